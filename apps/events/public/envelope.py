"""The envelope: a message's payload together with where it came from and why."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from apps.events.public.messages import registry

if TYPE_CHECKING:
    from apps.events.public.messages import Message


@dataclass(frozen=True, slots=True)
class Envelope:
    message_id: UUID
    type: str
    version: int
    occurred_at: datetime
    aggregate_id: str
    correlation_id: UUID
    causation_id: UUID | None
    source: str
    # The payload as stored (JSON text): parsed only by whoever needs it.
    payload_json: str = field(repr=False)
    # Global order in the event store; None until the relay has stored it.
    position: int | None = None

    @property
    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.payload_json)
        return payload

    def message(self) -> Message:
        """The payload as the current version of its message class (upcast if older)."""
        return registry.decode_json(self.type, self.version, self.payload_json)
