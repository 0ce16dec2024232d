"""Queries of the ticketing module."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q

from apps.ticketing.models import SeatAllocation, Section, SectionPrice

ALIAS = "ticketing"


def free_seats_by_row(
    *,
    performance_id: uuid.UUID,
    section: Section,
    also_taken: AbstractSet[tuple[int, int]] = frozenset(),
) -> dict[int, list[int]]:
    """The section's free seats at a performance: row -> ascending seat numbers."""
    taken = set(
        SeatAllocation.objects.using(ALIAS)
        .filter(performance_id=performance_id, section=section)
        .values_list("row", "number")
    ) | set(also_taken)
    free: dict[int, list[int]] = defaultdict(list)
    for row in range(1, section.rows + 1):
        for number in range(1, section.seats_per_row + 1):
            if (row, number) not in taken:
                free[row].append(number)
    return dict(free)


@dataclass(frozen=True)
class SectionAvailability:
    section: str
    capacity: int
    available: int
    held: int
    sold: int
    price: Decimal


def performance_availability(*, performance_id: uuid.UUID) -> list[SectionAvailability]:
    """Per section: capacity, free, held and sold seats, and the price."""
    counts = {
        row["section_id"]: row
        for row in SeatAllocation.objects.using(ALIAS)
        .filter(performance_id=performance_id)
        .values("section_id")
        .annotate(
            held=Count("pk", filter=Q(status=SeatAllocation.Status.HELD)),
            sold=Count("pk", filter=Q(status=SeatAllocation.Status.SOLD)),
        )
        .order_by()
    }
    result = []
    prices = (
        SectionPrice.objects.using(ALIAS)
        .select_related("section")
        .filter(performance_id=performance_id)
        .order_by("section__name")
    )
    for price in prices:
        section = price.section
        row = counts.get(section.id, {"held": 0, "sold": 0})
        result.append(
            SectionAvailability(
                section=section.name,
                capacity=section.capacity,
                available=section.capacity - row["held"] - row["sold"],
                held=row["held"],
                sold=row["sold"],
                price=price.price,
            )
        )
    return result


_MAP_MARK: dict[str, str] = {SeatAllocation.Status.HELD: "H", SeatAllocation.Status.SOLD: "S"}


def performance_seat_map(*, performance_id: uuid.UUID) -> dict[str, list[list[str]]]:
    """Per section name, its rows of seats: "·" free, "H" held, "S" sold."""
    status = {
        (a["section_id"], a["row"], a["number"]): a["status"]
        for a in SeatAllocation.objects.using(ALIAS)
        .filter(performance_id=performance_id)
        .values("section_id", "row", "number", "status")
    }
    prices = (
        SectionPrice.objects.using(ALIAS)
        .select_related("section")
        .filter(performance_id=performance_id)
        .order_by("section__name")
    )
    return {
        p.section.name: [
            [
                _MAP_MARK.get(status.get((p.section_id, row, number), ""), "·")
                for number in range(1, p.section.seats_per_row + 1)
            ]
            for row in range(1, p.section.rows + 1)
        ]
        for p in prices
    }
