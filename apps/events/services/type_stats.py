"""The events module's own projection: message counts per type."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections

from apps.events.models import MessageTypeStats
from apps.events.public.envelope import Envelope
from apps.events.selectors import EVENTS_ALIAS


def message_type_stats_reset() -> None:
    MessageTypeStats.objects.using(EVENTS_ALIAS).all().delete()


def message_type_stats_apply(*, envelopes: Sequence[Envelope]) -> None:
    """Count a batch of messages per type, in one statement."""
    counts: dict[str, list] = {}
    for envelope in envelopes:
        entry = counts.setdefault(envelope.type, [0, 0, None])
        entry[0] += 1
        entry[1] = envelope.position
        entry[2] = envelope.occurred_at
    table = connections[EVENTS_ALIAS].ops.quote_name(MessageTypeStats._meta.db_table)
    with connections[EVENTS_ALIAS].cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (type, count, last_position, last_occurred_at)
            SELECT * FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::timestamptz[])
            ON CONFLICT (type) DO UPDATE SET
                count = {table}.count + EXCLUDED.count,
                last_position = greatest({table}.last_position, EXCLUDED.last_position),
                last_occurred_at = EXCLUDED.last_occurred_at
            """,  # noqa: S608 - quoted identifier
            [list(counts), *(list(column) for column in zip(*counts.values(), strict=True))],
        )
