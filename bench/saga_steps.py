"""Place Order's CPU per order, step by step, in one process: no worker, no queue.

    .venv/bin/python bench/saga_steps.py [--orders 2000 --batch 50]

The standard workload of `place_order.py` (C customers with limit L; orders
i = 0..N-1 for customer i % C, total 1 + (i * 7919) % 100), but the saga's
steps are run here in turn, as a worker would run its tasks: place a batch of
orders, relay the orders outbox, then deliver every subscriber kicked after a
relay, relaying its module's outbox after it as the delivery task does. The
commits' relay rings are off (nobody would answer them). It prints the CPU
each step costs per order, this process's and PostgreSQL's, which a change
can be judged by when the machine's speed swings too much for throughput
figures to say anything (docs/benchmarks.md): the same work every run, with no
scheduling between processes in it.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable

from harness import (  # type: ignore[import-not-found]
    bench_database,
    postgres_cpu_seconds,
    register_customers,
    report,
)
from workload import order_total  # type: ignore[import-not-found]

from apps.events import kicks
from apps.events.public import subscribers
from apps.events.public.records import outbox_models
from apps.events.services import outbox_relay_pass, subscriber_deliver
from apps.orders import services as order_services
from apps.orders.models import Order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--limit", default="1000")
    parser.add_argument("--batch", type=int, default=50, help="orders placed between steps")
    args = parser.parse_args()
    kicks.ring_relay_soon = lambda module: None  # no worker here to answer a ring

    cpu: dict[str, float] = defaultdict(float)

    def timed(step: str, work: Callable[[], object]) -> None:
        started = time.process_time()
        work()
        cpu[step] += time.process_time() - started

    with bench_database():
        customers = register_customers(args.customers, args.limit)
        kicked = [s for s in subscribers.all() if s.kicked]
        for subscriber in kicked:  # their checkpoints, before the clock starts
            subscriber_deliver(name=subscriber.name)

        def place(start: int) -> None:
            for i in range(start, min(args.orders, start + args.batch)):
                order_services.order_place(
                    customer_id=customers[i % args.customers],
                    lines=[order_services.LineInput("X", 1, order_total(i))],
                )

        def steps() -> None:
            timed("relay", lambda: outbox_relay_pass(module="orders"))
            for subscriber in kicked:
                timed(
                    f"deliver:{subscriber.name}",
                    lambda name=subscriber.name: subscriber_deliver(name=name, look_again=False),
                )
                if subscriber.publishes and subscriber.module in outbox_models():
                    timed("relay", lambda m=subscriber.module: outbox_relay_pass(module=m))

        postgres_before, started = postgres_cpu_seconds(), time.process_time()
        for start in range(0, args.orders, args.batch):
            timed("place", lambda start=start: place(start))
            steps()
        orders = Order.objects.using("orders")
        for _ in range(5):  # the last batch's replies and decisions
            if not orders.filter(state=Order.State.PENDING).exists():
                break
            steps()
        total = time.process_time() - started
        postgres = postgres_cpu_seconds() - postgres_before
        pending = orders.filter(state=Order.State.PENDING).count()
        approved = orders.filter(state=Order.State.APPROVED).count()
        assert pending == 0, f"{pending} orders still pending"
        if (args.customers, args.orders, args.limit) == (100, 2000, "1000"):
            assert approved == 1663, approved

        def per_order(seconds: float) -> float:
            return round(seconds * 1e6 / args.orders, 1)

        report(
            {
                "benchmark": "saga_steps",
                "orders": args.orders,
                "batch": args.batch,
                "approved": approved,
                # This process's CPU per order, by step, in µs; "postgres": every
                # PostgreSQL process's over the same span.
                "cpu_us_per_order": {step: per_order(s) for step, s in sorted(cpu.items())},
                "process_us_per_order": per_order(total),
                "postgres_us_per_order": per_order(postgres),
            }
        )


if __name__ == "__main__":
    main()
