"""The standard Place Order workload, end to end through real worker processes.

    .venv/bin/python bench/place_order.py --via service [--customers 100 --orders 2000 --limit 1000]
    .venv/bin/python bench/place_order.py --via http    [--rate 300]

C customers with credit limit L are registered first. Then one client places
orders i = 0..N-1 in order, for customer i % C, one line with total
1 + (i * 7919) % 100; the clock runs from just before the first placement
until the last order is decided (APPROVED or REJECTED) by the saga, which Celery
worker processes run (relay, customers, orders). With C=100, N=2000, L=1000,
exactly 1663 orders are approved and 337 rejected. The benchmark checks the
split for any C, N and L (`workload.expected_decisions`) and exits non-zero on
a mismatch.

`--via service` places through `apps.orders.services.order_place`; `--via http`
through `POST /api/orders/` on gunicorn. `--rate R` paces placements at R/s
(for decision latency at a given load). `--place-only` starts no worker and
times the placements alone: the most one client can place with nothing
deciding behind it (a little more than it could with workers: with no task to
answer the relay's doorbell, its rings after the first send nothing). Prints
one JSON line.

Before the clock starts the bus is warmed (`warm_up_bus`): every relay and
every kicked subscriber's delivery is rung once through this process, nothing
placed, so the run does not pay what a running system paid long ago (this
process's ringer thread and first send, about 35 ms; the workers' database
connections). Gunicorn's processes (`--via http`) are not warmed. `--cold`
skips it, for pairs with commits from before it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from decimal import Decimal

from django.db import connections
from harness import (  # type: ignore[import-not-found]
    bench_database,
    child_environment,
    cpu_meter,
    register_customers,
    report,
    start_gunicorn,
    start_workers,
    stop,
    warm_up_bus,
)
from workload import expected_decisions, order_total  # type: ignore[import-not-found]

from apps.orders import services as order_services
from apps.orders.models import Order


def commits() -> tuple[int, int]:
    """Transactions committed in the database, and WAL flushes to disk server-wide."""
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT xact_commit, (SELECT wal_sync FROM pg_stat_wal)"
            " FROM pg_stat_database WHERE datname = current_database()"
        )
        return cursor.fetchone()


def http_placer(port: int, token: str):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def place(customer_id: str, total: Decimal) -> None:
        body = {
            "customer_id": customer_id,
            "lines": [{"sku": "X", "quantity": 1, "unit_price": str(total)}],
        }
        conn.request("POST", "/api/orders/", json.dumps(body), headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 202, response.status

    return place


def service_place(customer_id: str, total: Decimal) -> None:
    order_services.order_place(
        customer_id=customer_id,  # type: ignore[arg-type]
        lines=[order_services.LineInput("X", 1, total)],
    )


def hop_medians() -> dict[str, float]:
    """Where a decision's time goes, from the store's own clocks (median ms):
    placed -> stored (relay), stored -> reply published (customers' delivery),
    reply published -> reply stored (relay), reply stored -> decision published
    (orders' delivery)."""
    query = """
        WITH placed AS (
            SELECT aggregate_id, occurred_at, recorded_at FROM stored_event
            WHERE type = 'orders.OrderPlaced'),
        reply AS (
            SELECT aggregate_id, occurred_at, recorded_at FROM stored_event
            WHERE type IN ('customers.CreditReserved', 'customers.CreditLimitExceeded')),
        decision AS (
            SELECT aggregate_id, occurred_at FROM stored_event
            WHERE type IN ('orders.OrderApproved', 'orders.OrderRejected'))
        SELECT
            percentile_cont(0.5) WITHIN GROUP (ORDER BY p.recorded_at - p.occurred_at),
            percentile_cont(0.5) WITHIN GROUP (ORDER BY r.occurred_at - p.recorded_at),
            percentile_cont(0.5) WITHIN GROUP (ORDER BY r.recorded_at - r.occurred_at),
            percentile_cont(0.5) WITHIN GROUP (ORDER BY d.occurred_at - r.recorded_at)
        FROM placed p JOIN reply r USING (aggregate_id) JOIN decision d USING (aggregate_id)
    """
    with connections["events"].cursor() as cursor:
        cursor.execute(query)
        row = cursor.fetchone()
    names = ("relay_placed", "deliver_customers", "relay_reply", "deliver_orders")
    return {
        name: round(value.total_seconds() * 1000, 1)
        for name, value in zip(names, row, strict=True)
        if value is not None
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--via", choices=["service", "http"], default="service")
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--limit", default="1000")
    parser.add_argument("--rate", type=float, default=0, help="placements per second (0: flat out)")
    # One pool process per core the client leaves free (docs/benchmarks.md).
    parser.add_argument("--workers", type=int, default=1, help="worker pool processes")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--place-only", action="store_true", help="no workers: time the placements alone"
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="no warm-up: the first rings and tasks pay their imports and connections in the run",
    )
    args = parser.parse_args()

    with bench_database() as database:
        customers = register_customers(args.customers, args.limit)
        env = child_environment(database)
        workers = None if args.place_only else start_workers(env, args.workers)
        server = None
        try:
            if args.via == "http":
                from django.contrib.auth.models import User
                from rest_framework.authtoken.models import Token

                staff = User.objects.create_user("bench", is_staff=True)
                token = Token.objects.create(user=staff).key
                server = start_gunicorn(env, args.port)
                place = http_placer(args.port, token)
            else:
                place = service_place
            if workers is not None:
                time.sleep(3)  # let the workers connect
            if not args.cold:
                warm_up_bus(settle=1.5 if workers is not None else 0.1)
            connections.close_all()  # see below: counters so far reported, then
            time.sleep(0.5)
            commits_before = commits()
            connections["orders"].ensure_connection()
            placed_at: list[float] = []
            with cpu_meter(workers, server=server) as cpu:
                started = time.time()
                for i in range(args.orders):
                    if args.rate:
                        time.sleep(max(0.0, started + i / args.rate - time.time()))
                    placed_at.append(time.time())
                    place(customers[i % args.customers], order_total(i))
                placing_done = time.time()
                orders = Order.objects.using("orders")
                pending, last_progress = (0 if args.place_only else args.orders), time.monotonic()
                while pending:
                    time.sleep(0.05)
                    now_pending = orders.filter(state=Order.State.PENDING).count()
                    if now_pending < pending:
                        pending, last_progress = now_pending, time.monotonic()
                    elif time.monotonic() - last_progress > 60:
                        raise RuntimeError(f"{pending} orders still pending, none decided for 60 s")
        finally:
            if workers is not None:
                stop(workers)
            if server is not None:
                stop(server)
        # A live backend reports its counters at most once a second: read after
        # ours and the workers' have left (to within the few commits of backends
        # that outlive the run, such as gunicorn's, and of the reads here).
        connections.close_all()
        time.sleep(0.5)
        commits_after = commits()
        commit_count = commits_after[0] - commits_before[0]
        wal_syncs = commits_after[1] - commits_before[1]
        cpu_per_order = {
            group: round(seconds * 1000 / args.orders, 2) for group, seconds in cpu.items()
        }
        if args.place_only:
            report(
                {
                    "benchmark": "place_order",
                    "via": args.via,
                    "place_only": True,
                    "warm_up": not args.cold,
                    "orders": args.orders,
                    "placing_per_s": round(args.orders / (placing_done - started)),
                    "commits_per_order": round(commit_count / args.orders, 2),
                    "wal_flushes_per_order": round(wal_syncs / args.orders, 2),
                    "cpu_ms_per_order": cpu_per_order,
                }
            )
            return

        decided = list(
            orders.order_by("created_at").values_list("state", "created_at", "updated_at")
        )
        approved = sum(1 for state, _, _ in decided if state == Order.State.APPROVED)
        rejected = sum(1 for state, _, _ in decided if state == Order.State.REJECTED)
        expected = expected_decisions(
            customers=args.customers, orders=args.orders, limit=Decimal(args.limit)
        )
        if (approved, rejected) != expected:
            sys.exit(f"decided {approved} approved, {rejected} rejected; expected {expected}")
        finished = max(updated.timestamp() for _, _, updated in decided)
        latencies = sorted(
            (updated.timestamp() - placed) * 1000
            for (_, _, updated), placed in zip(decided, placed_at, strict=True)
        )
        seconds = finished - started
        report(
            {
                "benchmark": "place_order",
                "via": args.via,
                "workers": args.workers,
                "rate": args.rate or None,
                "warm_up": not args.cold,
                "orders": args.orders,
                "approved": approved,
                "rejected": rejected,
                "seconds": round(seconds, 3),
                "orders_per_s": round(args.orders / seconds),
                "placing_per_s": round(args.orders / (placing_done - started)),
                "p50_ms": round(latencies[len(latencies) // 2], 1),
                "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
                "commits_per_order": round(commit_count / args.orders, 2),
                "wal_flushes_per_order": round(wal_syncs / args.orders, 2),
                "hops_p50_ms": hop_medians(),
                # CPU ms per order, by process group, while it ran ("idle": unused).
                "cpu_ms_per_order": cpu_per_order,
            }
        )


if __name__ == "__main__":
    main()
