"""Book Seats end to end: bookings through the REST API, sagas run by real workers.

    .venv/bin/python bench/book_seats.py [--bookings 400 --customers 50 --seats 2 --rate 0]

A venue with two sections of 20 rows x 50 seats (2,000 seats), one performance;
C customers with ample credit. One client POSTs N bookings to `/api/bookings/`
on gunicorn (two sections in turn, `--seats` each), paced at `--rate` per
second if given; the clock runs until the last booking is final. Prints one
JSON line: bookings completed per second and p50/p99 time from request to a
final state, and checks the outcome: every booking CONFIRMED while seats last,
no seat twice, `audit_consistency` clean.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import time
from datetime import timedelta
from decimal import Decimal

from django.core.management import call_command
from django.utils import timezone
from harness import (  # type: ignore[import-not-found]
    bench_database,
    child_environment,
    hop_medians,
    report,
    start_gunicorn,
    start_workers,
    stop,
)

from apps.bookings.models import Booking
from apps.customers import services as customer_services
from apps.ticketing import services as ticketing
from apps.ticketing.models import SeatAllocation

FINAL = {"CONFIRMED", "REJECTED", "EXPIRED", "CANCELLED"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=400)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--seats", type=int, default=2, help="seats per booking")
    parser.add_argument("--rate", type=float, default=0, help="bookings per second (0: flat out)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()

    with bench_database() as database:
        venue = ticketing.venue_create(
            name="Bench Hall",
            city="Benchton",
            sections=[ticketing.SectionInput("A", 20, 50), ticketing.SectionInput("B", 20, 50)],
        )
        show = ticketing.show_create(title="The Benchmark")
        performance = ticketing.performance_create(
            show_id=show.id,
            venue_id=venue.id,
            starts_at=timezone.now() + timedelta(days=1),
            prices={"A": Decimal("10.00"), "B": Decimal("15.00")},
        )
        customers = [
            str(
                customer_services.customer_register(
                    name=f"Bench {c}", email=f"bench{c}@example.com", region="EU",
                    credit_limit=Decimal("1000000.00"),
                ).id
            )
            for c in range(args.customers)
        ]  # fmt: skip
        from django.contrib.auth.models import User
        from rest_framework.authtoken.models import Token

        token = Token.objects.create(user=User.objects.create_user("bench", is_staff=True)).key
        env = child_environment(database)
        workers = start_workers(env, args.workers)
        server = start_gunicorn(env, args.port)
        try:
            time.sleep(3)  # let the workers connect
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
            headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
            asked_at: dict[str, float] = {}
            started = time.time()
            for i in range(args.bookings):
                if args.rate:
                    time.sleep(max(0.0, started + i / args.rate - time.time()))
                body = {
                    "customer_id": customers[i % args.customers],
                    "performance_id": str(performance.id),
                    "seats": [{"section": "AB"[i % 2], "quantity": args.seats}],
                }
                at = time.time()
                conn.request("POST", "/api/bookings/", json.dumps(body), headers)
                response = conn.getresponse()
                payload = response.read()
                assert response.status == 202, (response.status, payload)
                asked_at[json.loads(payload)["id"]] = at
            requested_done = time.time()
            bookings = Booking.objects.using("bookings")
            pending, last_progress = args.bookings, time.monotonic()
            while pending:
                time.sleep(0.05)
                now_pending = bookings.exclude(state__in=FINAL).count()
                if now_pending < pending:
                    pending, last_progress = now_pending, time.monotonic()
                elif time.monotonic() - last_progress > 60:
                    raise RuntimeError(f"{pending} bookings unfinished, none ended for 60 s")
        finally:
            stop(server)
            stop(workers)

        ended = list(bookings.values_list("id", "state", "updated_at"))
        confirmed = sum(1 for _, state, _ in ended if state == "CONFIRMED")
        seats = list(
            SeatAllocation.objects.using("ticketing").values_list("section", "row", "number")
        )
        assert len(seats) == len(set(seats)) == confirmed * args.seats
        call_command("audit_consistency", stdout=io.StringIO())
        finished = max(updated.timestamp() for _, _, updated in ended)
        latencies = sorted(
            (updated.timestamp() - asked_at[str(pk)]) * 1000 for pk, _, updated in ended
        )
        seconds = finished - started
        report(
            {
                "benchmark": "book_seats",
                "workers": args.workers,
                "rate": args.rate or None,
                "bookings": args.bookings,
                "seats_each": args.seats,
                "confirmed": confirmed,
                "rejected": len(ended) - confirmed,
                "seconds": round(seconds, 3),
                "bookings_per_s": round(args.bookings / seconds, 1),
                "requesting_per_s": round(args.bookings / (requested_done - started), 1),
                "p50_ms": round(latencies[len(latencies) // 2], 1),
                "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 1),
                "hops_p50_ms": hop_medians(),
            }
        )


if __name__ == "__main__":
    main()
