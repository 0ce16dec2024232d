"""The events module's own projection: message counts per type."""

from __future__ import annotations

from collections.abc import Sequence

from apps.events.public import Envelope, projection
from apps.events.services import message_type_stats_apply, message_type_stats_reset

# Statistics may lag a sweep interval: not kicked after each relay (one task less per hop).
type_stats = projection(
    "events.type_stats", module="events", reset=message_type_stats_reset, kicked=False
)


@type_stats.handles_batch()
def count_messages(envelopes: Sequence[Envelope]) -> None:
    message_type_stats_apply(envelopes=envelopes)
