"""What other modules may ask the ticketing module. Frozen DTOs, never models."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q

from apps.ticketing.models import Performance, SeatAllocation, SectionPrice, Ticket

ALIAS = "ticketing"


@dataclass(frozen=True)
class PerformanceSections:
    performance_id: uuid.UUID
    prices: dict[str, Decimal]  # section name -> price


def performance_sections(*, performance_id: uuid.UUID) -> PerformanceSections | None:
    """The performance's sections and prices, or None if there is no such performance."""
    if not Performance.objects.using(ALIAS).filter(pk=performance_id).exists():
        return None
    prices = SectionPrice.objects.using(ALIAS).filter(performance_id=performance_id)
    return PerformanceSections(
        performance_id=performance_id,
        prices=dict(prices.values_list("section__name", "price")),
    )


@dataclass(frozen=True)
class SeatRef:
    performance_id: uuid.UUID
    section: str
    row: int
    number: int


def seats_allocated_twice() -> list[SeatRef]:
    """Seats held or sold for more than one booking (the constraint forbids it)."""
    rows = (
        SeatAllocation.objects.using(ALIAS)
        .values("performance_id", "section__name", "row", "number")
        .annotate(times=Count("pk"))
        .filter(times__gt=1)
        .order_by()
    )
    return [SeatRef(r["performance_id"], r["section__name"], r["row"], r["number"]) for r in rows]


@dataclass(frozen=True)
class BookingSeats:
    booking_id: uuid.UUID
    held: int
    sold: int
    live_tickets: int


def seats_by_booking() -> dict[uuid.UUID, BookingSeats]:
    """Per booking with seats or tickets: seats held, seats sold, tickets not voided."""
    seats = {
        row["booking_id"]: row
        for row in SeatAllocation.objects.using(ALIAS)
        .values("booking_id")
        .annotate(
            held=Count("pk", filter=Q(status=SeatAllocation.Status.HELD)),
            sold=Count("pk", filter=Q(status=SeatAllocation.Status.SOLD)),
        )
        .order_by()
    }
    tickets = dict(
        Ticket.objects.using(ALIAS)
        .filter(voided_at__isnull=True)
        .values("booking_id")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("booking_id", "n")
    )
    return {
        booking_id: BookingSeats(
            booking_id=booking_id,
            held=seats[booking_id]["held"] if booking_id in seats else 0,
            sold=seats[booking_id]["sold"] if booking_id in seats else 0,
            live_tickets=tickets.get(booking_id, 0),
        )
        for booking_id in {*seats, *tickets}
    }
