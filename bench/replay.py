"""Replay throughput: rebuilding a projection from the event store.

    .venv/bin/python bench/replay.py [--events 200000] [--batch-size 5000]

The store is filled with N events of 20 types first (not timed). The clock runs
while `events.type_stats` (message counts per type) is reset and rebuilt through
the same path as `replay_events --rebuild`: streamed in batches by position,
applied by the projection's live handler. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import io
import time
import uuid

from django.db import connections
from django.utils import timezone
from harness import bench_database, report  # type: ignore[import-not-found]

from apps.events.models import MessageTypeStats
from apps.events.services import subscriber_deliver, subscriber_rewind

PROJECTION = "events.type_stats"
TYPES = [f"customers.Bench{i}Happened" for i in range(20)]


def fill_store(count: int) -> None:
    now = timezone.now().isoformat()
    buffer = io.StringIO()
    for i in range(count):
        correlation = uuid.uuid4()
        payload = f'{{"key": "k{i % 1000}", "seq": {i}, "note": "a small payload"}}'
        row = (uuid.uuid4(), TYPES[i % len(TYPES)], 1, "customers", now, f"k{i % 1000}")
        buffer.write("\t".join(map(str, (*row, correlation, payload))) + "\n")
    with (
        connections["events"].cursor() as cursor,
        cursor.copy(
            "COPY stored_event (message_id, type, version, source, occurred_at, aggregate_id,"
            " correlation_id, payload) FROM STDIN"
        ) as copy,
    ):
        copy.write(buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args()
    with bench_database():
        fill_store(args.events)
        started = time.perf_counter()
        subscriber_rewind(name=PROJECTION)
        result = subscriber_deliver(name=PROJECTION, batch_size=args.batch_size, wait=True)
        seconds = time.perf_counter() - started
        counted = sum(MessageTypeStats.objects.using("events").values_list("count", flat=True))
        assert result.handled == args.events == counted, (result, counted)
        report(
            {
                "benchmark": "replay",
                "projection": PROJECTION,
                "events": args.events,
                "batch_size": args.batch_size,
                "seconds": round(seconds, 3),
                "events_per_s": round(args.events / seconds),
            }
        )


if __name__ == "__main__":
    main()
