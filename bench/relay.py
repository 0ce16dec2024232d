"""Relay throughput: outbox -> event store -> a no-op subscriber's checkpoint.

    .venv/bin/python bench/relay.py [--messages 50000] [--batch-size 2000] [--pipelined]

N messages are written to the customers outbox first (not timed). The clock
runs from the first relay batch until the no-op subscriber's checkpoint reaches
the store's head. Sequential by default (relay, then delivery, one process);
with --pipelined, delivery runs in a second process while the relay works, as
the relay task and the subscriber's worker do in production. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import time
import uuid
from typing import ClassVar

from django.db import connections
from django.utils import timezone
from harness import bench_database, report  # type: ignore[import-not-found]

from apps.events.public import Envelope, Event, subscribers
from apps.events.public.records import outbox_models
from apps.events.selectors import store_head
from apps.events.services import outbox_relay, subscriber_deliver

MODULE = "customers"


class BenchPinged(Event):
    message_type: ClassVar[str] = "customers.BenchPinged"
    aggregate_field: ClassVar[str] = "key"
    key: str
    seq: int


noop = subscribers.declare("bench.noop", module=MODULE, publishes=True)


@noop.handles(BenchPinged)
def ignore(message: BenchPinged, envelope: Envelope) -> None:
    pass


def fill_outbox(count: int) -> None:
    table = outbox_models()[MODULE]._meta.db_table
    now = timezone.now().isoformat()
    correlation = uuid.uuid4()
    buffer = io.StringIO()
    for i in range(count):
        payload = f'{{"key": "k{i % 100}", "seq": {i}}}'
        row = (uuid.uuid4(), "customers.BenchPinged", 1, now, f"k{i % 100}", correlation, payload)
        buffer.write("\t".join(map(str, row)) + "\n")
    with (
        connections[MODULE].cursor() as cursor,
        cursor.copy(
            f"COPY {table} (message_id, type, version, occurred_at, aggregate_id,"
            " correlation_id, payload) FROM STDIN"
        ) as copy,
    ):
        copy.write(buffer.getvalue())


def deliver_until(count: int, batch_size: int) -> int:
    handled = 0
    while handled < count:
        handled += subscriber_deliver(name="bench.noop", batch_size=batch_size).handled
    return handled


def deliver_in_child(count: int, batch_size: int) -> multiprocessing.Process:
    connections.close_all()  # the child opens its own
    child = multiprocessing.get_context("fork").Process(
        target=deliver_until, args=(count, batch_size)
    )
    child.start()
    return child


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--pipelined", action="store_true")
    args = parser.parse_args()
    with bench_database():
        fill_outbox(args.messages)
        child = deliver_in_child(args.messages, args.batch_size) if args.pipelined else None
        started = time.perf_counter()
        relayed = outbox_relay(module=MODULE, batch_size=args.batch_size)
        relayed_at = time.perf_counter()
        if child is not None:
            child.join()
            assert child.exitcode == 0
        else:
            assert deliver_until(args.messages, args.batch_size) == args.messages
        finished = time.perf_counter()
        assert relayed == args.messages, relayed
        assert subscriber_deliver(name="bench.noop").position == store_head()
        seconds = finished - started
        report(
            {
                "benchmark": "relay",
                "mode": "pipelined" if args.pipelined else "sequential",
                "messages": args.messages,
                "batch_size": args.batch_size,
                "seconds": round(seconds, 3),
                "messages_per_s": round(args.messages / seconds),
                "relay_seconds": round(relayed_at - started, 3),
                "deliver_done_after_seconds": round(finished - started, 3),
            }
        )


if __name__ == "__main__":
    main()
