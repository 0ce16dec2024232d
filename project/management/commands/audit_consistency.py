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
from apps.customers.public.queries import customers_over_limit, customers_reserved_out_of_step
from apps.orders.public.queries import order_states
from apps.ticketing.public.queries import seats_allocated_twice, seats_by_booking

ENDED = {"REJECTED", "EXPIRED", "CANCELLED"}


class Command(BaseCommand):
    help = (
        "Check the invariants across modules: seats held or sold at most once, sold seats"
        " = issued tickets, every confirmed booking has an approved order, reservations"
        " within limits and in step with each customer's total, no saga stuck."
        " Non-zero exit on any breach."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stuck-after",
            type=float,
            default=300.0,
            help="seconds without progress after which an unfinished booking counts as stuck",
        )
        parser.add_argument(
            "--settle-seconds",
            type=float,
            default=60.0,
            help=(
                "a booking changed more recently than this may still have messages in"
                " flight (a release, a cancel): its cross-module checks wait"
            ),
        )

    def handle(self, *args: object, **options: object) -> None:
        breaches = list(
            self.breaches(
                stuck_after=float(options["stuck_after"]),  # type: ignore[arg-type]
                settle=float(options["settle_seconds"]),  # type: ignore[arg-type]
            )
        )
        for breach in breaches:
            self.stdout.write(self.style.ERROR(f"BREACH {breach}"))
        if breaches:
            raise CommandError(f"{len(breaches)} breach(es) of consistency")
        self.stdout.write(self.style.SUCCESS("consistent: every invariant holds"))

    def breaches(self, *, stuck_after: float, settle: float):
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
        known = {b.booking_id for b in bookings}
        for booking_id in sorted(set(seats) - known):
            yield f"seats or tickets for booking {booking_id}, which bookings does not know"
        states = order_states(order_ids=[b.order_id for b in bookings if b.order_id])
        now = timezone.now()
        stuck_before = now - timedelta(seconds=stuck_after)
        settled_before = now - timedelta(seconds=settle)
        for booking in bookings:
            held = seats.get(booking.booking_id)
            order_state = states.get(booking.order_id) if booking.order_id else None
            if booking.state not in ENDED | {"CONFIRMED"}:
                if booking.updated_at < stuck_before and (
                    booking.hold_expires_at is None or booking.hold_expires_at < stuck_before
                ):
                    yield (
                        f"booking {booking.booking_id} is stuck in {booking.state} since"
                        f" {booking.updated_at.isoformat(timespec='seconds')}"
                    )
                continue
            if booking.updated_at >= settled_before:
                continue  # its last messages may be in flight still
            if booking.state == "CONFIRMED":
                if order_state != "APPROVED":
                    yield (
                        f"booking {booking.booking_id} is CONFIRMED but its order"
                        f" {booking.order_id} is {order_state or 'missing'}"
                    )
                if held is None or held.sold != booking.seats:
                    yield f"booking {booking.booking_id} is CONFIRMED but has unsold seats"
                continue
            if held is not None and (held.held or held.sold):
                yield f"booking {booking.booking_id} is {booking.state} but still has seats"
            if order_state in ("PENDING", "APPROVED"):
                yield (
                    f"booking {booking.booking_id} is {booking.state} but its order"
                    f" {booking.order_id} is still {order_state} (credit held)"
                )
        for customer in customers_over_limit():
            yield (
                f"customer {customer.customer_id} has more reserved than its limit"
                f" {customer.credit_limit} (available {customer.available_credit})"
            )
        for mismatch in customers_reserved_out_of_step():
            yield (
                f"customer {mismatch.customer_id} has {mismatch.reserved_credit} reserved by its"
                f" running total but {mismatch.ledger_reserved} by its ledger"
            )
