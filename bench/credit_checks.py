"""Credit checks against customers with a long history of open reservations.

    DATABASE_URL=... .venv/bin/python bench/credit_checks.py [--history 2000]

C customers (limit high enough never to refuse), each with `--history` OPEN
reservations written straight to the ledger (as years of approved orders would
leave), their running totals set to match; then `--batches` runs of `--batch`
credit requests, each run decided by `credit_reserve_many` in one transaction,
as the credit step of the Place Order saga decides a delivery batch. Prints the
CPU per request of this process and of PostgreSQL, and the wall time: a check
that reads the running total costs the same whatever the history; one that
summed the ledger grew with it.
"""

from __future__ import annotations

import argparse
import time
import uuid
from decimal import Decimal

from django.db import connections, transaction
from django.utils import timezone
from harness import (  # type: ignore[import-not-found]
    bench_database,
    postgres_cpu_seconds,
    register_customers,
    report,
)

from apps.customers import services
from apps.customers.models import CreditReservation, Customer
from apps.events import kicks
from project.bulk import rows_copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--history", type=int, default=2000, help="open reservations each")
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch", type=int, default=50, help="requests per credit run")
    args = parser.parse_args()
    kicks.ring_relay_soon = lambda module: None  # no worker here to answer a ring

    with bench_database():
        customers = register_customers(args.customers, "100000000")
        now = timezone.now()
        rows_copy(
            CreditReservation,
            using="customers",
            fields=("order_id", "customer", "amount", "state", "created_at"),
            rows=(
                (uuid.uuid4(), customer, Decimal("1.00"), "OPEN", now)
                for customer in customers
                for _ in range(args.history)
            ),
        )
        Customer.objects.using("customers").update(reserved_credit=Decimal(args.history))
        with connections["customers"].cursor() as cursor:
            cursor.execute("ANALYZE")
        runs = [
            [
                services.CreditRequest(
                    order_id=uuid.uuid4(),
                    customer_id=uuid.UUID(customers[(run * args.batch + i) % len(customers)]),
                    amount=Decimal("1.00"),
                )
                for i in range(args.batch)
            ]
            for run in range(args.batches)
        ]
        postgres, process, wall = postgres_cpu_seconds(), time.process_time(), time.perf_counter()
        for requests in runs:
            with transaction.atomic(using="customers"):
                services.credit_reserve_many(requests=requests)
        requests_made = args.batches * args.batch

        def per_request(seconds: float) -> float:
            return round(seconds * 1e6 / requests_made, 1)

        report(
            {
                "benchmark": "credit_checks",
                "customers": args.customers,
                "history_per_customer": args.history,
                "requests": requests_made,
                "process_us_per_request": per_request(time.process_time() - process),
                "postgres_us_per_request": per_request(postgres_cpu_seconds() - postgres),
                "wall_us_per_request": per_request(time.perf_counter() - wall),
            }
        )


if __name__ == "__main__":
    main()
