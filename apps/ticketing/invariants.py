"""The ticketing module's invariants (project/invariants.py)."""

from __future__ import annotations

from collections.abc import Iterator

from apps.ticketing.public.queries import seats_allocated_twice, seats_by_booking
from project.invariants import AuditWindow, invariant


@invariant
def a_seat_is_held_or_sold_once_at_most(window: AuditWindow) -> Iterator[str]:
    for seat in seats_allocated_twice():
        yield (
            f"seat {seat.section} row {seat.row} no. {seat.number} of performance"
            f" {seat.performance_id} is held or sold for more than one booking"
        )


@invariant
def seats_sold_equal_tickets_issued(window: AuditWindow) -> Iterator[str]:
    for entry in seats_by_booking().values():
        if entry.sold != entry.live_tickets:
            yield (
                f"booking {entry.booking_id}: {entry.sold} seat(s) sold but"
                f" {entry.live_tickets} ticket(s) issued"
            )
