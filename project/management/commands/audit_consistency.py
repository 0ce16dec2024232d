"""`manage.py audit_consistency`: the spec's cross-module invariants, checked.

Reads each module only through its `public` query functions, so it works the
same when modules live on different database servers. Prints every breach and
exits non-zero if there is any.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.bookings.public.queries import booking_summaries
from apps.customers.public.queries import customers_over_limit
from apps.orders.public.queries import order_states
from apps.ticketing.public.queries import seats_allocated_twice, seats_by_booking

ENDED = {"REJECTED", "EXPIRED", "CANCELLED"}


class Command(BaseCommand):
    help = (
        "Check the invariants across modules: seats held or sold at most once, sold seats"
        " = issued tickets, every confirmed booking has an approved order, reservations"
        " within limits, no saga stuck. Non-zero exit on any breach."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stuck-after",
            type=float,
            default=300.0,
            help="seconds without progress after which an unfinished booking counts as stuck",
        )

    def handle(self, *args: object, **options: object) -> None:
        breaches = list(self.breaches(stuck_after=float(options["stuck_after"])))  # type: ignore[arg-type]
        for breach in breaches:
            self.stdout.write(self.style.ERROR(f"BREACH {breach}"))
        if breaches:
            raise CommandError(f"{len(breaches)} breach(es) of consistency")
        self.stdout.write(self.style.SUCCESS("consistent: every invariant holds"))

    def breaches(self, *, stuck_after: float):
        for seat in seats_allocated_twice():
            yield (
                f"seat {seat.section} row {seat.row} no. {seat.number} of performance"
                f" {seat.performance_id} is held or sold for more than one booking"
            )
        seats = seats_by_booking()
        for entry in seats.values():
            if entry.sold != entry.live_tickets:
                yield (
                    f"booking {entry.booking_id}: {entry.sold} seat(s) sold but"
                    f" {entry.live_tickets} ticket(s) issued"
                )
        bookings = booking_summaries()
        confirmed = [b for b in bookings if b.state == "CONFIRMED"]
        states = order_states(order_ids=[b.order_id for b in confirmed if b.order_id])
        stuck_before = timezone.now() - timedelta(seconds=stuck_after)
        for booking in bookings:
            held = seats.get(booking.booking_id)
            if booking.state == "CONFIRMED":
                order_state = states.get(booking.order_id) if booking.order_id else None
                if order_state != "APPROVED":
                    yield (
                        f"booking {booking.booking_id} is CONFIRMED but its order"
                        f" {booking.order_id} is {order_state or 'missing'}"
                    )
                if held is None or held.sold != booking.seats:
                    yield f"booking {booking.booking_id} is CONFIRMED but has unsold seats"
            elif booking.state in ENDED:
                if held is not None and (held.held or held.sold):
                    yield f"booking {booking.booking_id} is {booking.state} but still has seats"
            elif booking.updated_at < stuck_before and (
                booking.hold_expires_at is None or booking.hold_expires_at < stuck_before
            ):
                yield (
                    f"booking {booking.booking_id} is stuck in {booking.state} since"
                    f" {booking.updated_at.isoformat(timespec='seconds')}"
                )
        for customer in customers_over_limit():
            yield (
                f"customer {customer.customer_id} has more reserved than its limit"
                f" {customer.credit_limit} (available {customer.available_credit})"
            )
