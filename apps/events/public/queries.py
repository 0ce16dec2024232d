"""Read-only questions other parts of the system may ask the event platform.

They return frozen DTOs, never model instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from apps.events import selectors


@dataclass(frozen=True)
class OutboxBacklog:
    module: str
    pending: int
    oldest_age_seconds: float | None


@dataclass(frozen=True)
class TimelineEntry:
    position: int
    type: str
    occurred_at: datetime
    source: str
    aggregate_id: str
    payload: dict


def outbox_backlogs() -> list[OutboxBacklog]:
    """Messages waiting in each module's outbox, and how old the oldest one is."""
    return [
        OutboxBacklog(module=b.module, pending=b.pending, oldest_age_seconds=b.oldest_age_seconds)
        for b in selectors.outbox_backlogs()
    ]


def saga_of(*, aggregate_id: str) -> list[TimelineEntry]:
    """The saga an aggregate took part in: every message sharing the correlation id
    of the first message stored about it, in store order (empty before the relay)."""
    first = selectors.store_first_for_aggregate(aggregate_id=aggregate_id)
    return [] if first is None else saga_timeline(correlation_id=first.correlation_id)


def saga_timeline(*, correlation_id: UUID) -> list[TimelineEntry]:
    """Every stored message sharing `correlation_id`, in store order."""
    return [
        TimelineEntry(
            position=e.position or 0,
            type=e.type,
            occurred_at=e.occurred_at,
            source=e.source,
            aggregate_id=e.aggregate_id,
            payload=e.payload,
        )
        for e in selectors.saga_timeline(correlation_id=correlation_id)
    ]
