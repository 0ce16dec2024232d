"""The events module's own projection: message counts per type."""

from __future__ import annotations

from collections.abc import Sequence

from apps.events.public import Envelope, projection
from apps.events.services import message_type_stats_apply, message_type_stats_reset

type_stats = projection("events.type_stats", module="events", reset=message_type_stats_reset)


@type_stats.handles_batch()
def count_messages(envelopes: Sequence[Envelope]) -> None:
    message_type_stats_apply(envelopes=envelopes)
