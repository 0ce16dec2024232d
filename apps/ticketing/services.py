"""Commands of the ticketing module: the catalogue, and holding, releasing and
selling seats for the booking saga.

Every command runs in one transaction on the `ticketing` alias and publishes
what it did in that same transaction. Holding seats locks the performance's
row, so holds for one performance are decided one at a time; the unique
constraint on (performance, section, row, number) is the last word all the same.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.events.public import publish
from apps.ticketing.models import (
    BookingHold,
    Performance,
    SeatAllocation,
    Section,
    SectionPrice,
    Show,
    Ticket,
    Venue,
)
from apps.ticketing.public import messages
from apps.ticketing.selectors import free_seats_by_row

ALIAS = "ticketing"
Seat = tuple[int, int]  # (row, number)


def _money(amount: Decimal) -> str:
    # "0.00" for a -0 too, as the stored numeric (which has no negative zero) reads.
    return f"{amount.copy_abs() if amount.is_zero() else amount:.2f}"


# --- The catalogue ------------------------------------------------------------


@dataclass(frozen=True)
class SectionInput:
    name: str
    rows: int
    seats_per_row: int


def venue_create(*, name: str, city: str, sections: Sequence[SectionInput]) -> Venue:
    names = [s.name for s in sections]
    if not sections:
        raise ValidationError({"sections": ["A venue needs at least one section."]})
    if len(set(names)) != len(names):
        raise ValidationError({"sections": ["Section names must differ."]})
    with transaction.atomic(using=ALIAS):
        venue = Venue.objects.using(ALIAS).create(name=name, city=city)
        Section.objects.using(ALIAS).bulk_create(
            Section(venue=venue, name=s.name, rows=s.rows, seats_per_row=s.seats_per_row)
            for s in sections
        )
    return venue


def show_create(*, title: str, description: str = "") -> Show:
    return Show.objects.using(ALIAS).create(title=title, description=description)


def performance_create(
    *, show_id: uuid.UUID, venue_id: uuid.UUID, starts_at: datetime, prices: dict[str, Decimal]
) -> Performance:
    """A performance of a show at a venue; `prices` by section name, one for every section."""
    with transaction.atomic(using=ALIAS):
        show = Show.objects.using(ALIAS).filter(pk=show_id).first()
        venue = Venue.objects.using(ALIAS).filter(pk=venue_id).first()
        errors: dict[str, list[str]] = {}
        if show is None:
            errors["show_id"] = ["No such show."]
        if venue is None:
            errors["venue_id"] = ["No such venue."]
        if show is None or venue is None:
            raise ValidationError(errors)
        sections = {s.name: s for s in Section.objects.using(ALIAS).filter(venue=venue)}
        unknown = sorted(set(prices) - set(sections))
        missing = sorted(set(sections) - set(prices))
        if unknown or missing:
            problems = [f"No section {name!r} at this venue." for name in unknown]
            problems += [f"Section {name!r} needs a price." for name in missing]
            raise ValidationError({"prices": problems})
        performance = Performance.objects.using(ALIAS).create(
            show=show, venue=venue, starts_at=starts_at
        )
        SectionPrice.objects.using(ALIAS).bulk_create(
            SectionPrice(performance=performance, section=sections[name], price=price)
            for name, price in prices.items()
        )
    return performance


# --- Holding, releasing and selling seats (the booking saga's commands) ----------


def _hold_seconds() -> float:
    return float(getattr(settings, "BOOKING_HOLD_SECONDS", 600))


def seats_pick(free_by_row: dict[int, list[int]], quantity: int) -> list[Seat] | None:
    """Choose `quantity` seats: side by side in the front-most row that has them;
    otherwise the front-most free seats. None if there are not enough."""
    for row in sorted(free_by_row):
        numbers = free_by_row[row]
        for start in range(len(numbers) - quantity + 1):
            window = numbers[start : start + quantity]
            if window[-1] - window[0] == quantity - 1:
                return [(row, n) for n in window]
    scattered = [(row, n) for row in sorted(free_by_row) for n in free_by_row[row]]
    return scattered[:quantity] if len(scattered) >= quantity else None


def seats_hold(
    *, booking_id: uuid.UUID, performance_id: uuid.UUID, requests: Sequence[tuple[str, int]]
) -> None:
    """Hold seats for a booking (all the sections asked for, or none) and say so.

    Replies SeatsHeld or SeatsUnavailable. Idempotent per booking: a booking that
    was answered already (or released before its hold arrived) gets nothing new.
    """
    with transaction.atomic(using=ALIAS):
        if BookingHold.objects.using(ALIAS).filter(pk=booking_id).exists():
            return
        performance = (
            Performance.objects.using(ALIAS).select_for_update().filter(pk=performance_id).first()
        )
        if performance is None:
            _unavailable(booking_id, performance_id, None, "UNKNOWN_PERFORMANCE")
            return
        prices = {
            p.section.name: p
            for p in SectionPrice.objects.using(ALIAS)
            .select_related("section")
            .filter(performance=performance)
        }
        if any(name not in prices for name, _ in requests):
            _unavailable(booking_id, performance_id, performance, "UNKNOWN_SECTION")
            return
        expires_at = timezone.now() + timedelta(seconds=_hold_seconds())
        allocations: list[SeatAllocation] = []
        for name, quantity in requests:
            price = prices[name]
            taken = {(a.row, a.number) for a in allocations if a.section_id == price.section_id}
            free = free_seats_by_row(
                performance_id=performance.id, section=price.section, also_taken=taken
            )
            seats = seats_pick(free, quantity)
            if seats is None:
                _unavailable(booking_id, performance_id, performance, "NOT_ENOUGH_SEATS")
                return
            allocations += [
                SeatAllocation(
                    performance=performance,
                    section=price.section,
                    row=row,
                    number=number,
                    booking_id=booking_id,
                    price=price.price,
                    hold_expires_at=expires_at,
                )
                for row, number in seats
            ]
        SeatAllocation.objects.using(ALIAS).bulk_create(allocations)
        BookingHold.objects.using(ALIAS).create(
            booking_id=booking_id,
            performance=performance,
            state=BookingHold.State.HELD,
            hold_expires_at=expires_at,
        )
        sections = {price.section_id: name for name, price in prices.items()}
        publish(
            messages.SeatsHeld(
                booking_id=str(booking_id),
                performance_id=str(performance.id),
                seats=tuple(_held(a, sections[a.section_id]) for a in allocations),
                total=_money(sum((a.price for a in allocations), Decimal("0.00"))),
                hold_expires_at=expires_at.isoformat(),
            ),
            source=ALIAS,
        )


def _held(allocation: SeatAllocation, section: str) -> messages.HeldSeat:
    return messages.HeldSeat(
        section=section,
        row=allocation.row,
        number=allocation.number,
        price=_money(allocation.price),
    )


def _unavailable(
    booking_id: uuid.UUID,
    performance_id: uuid.UUID,
    performance: Performance | None,
    reason: messages.UnavailableReason,
) -> None:
    BookingHold.objects.using(ALIAS).create(
        booking_id=booking_id, performance=performance, state=BookingHold.State.UNAVAILABLE
    )
    publish(
        messages.SeatsUnavailable(
            booking_id=str(booking_id), performance_id=str(performance_id), reason=reason
        ),
        source=ALIAS,
    )


def seats_release(*, booking_id: uuid.UUID) -> None:
    """Free a booking's seats, held or sold (its tickets are voided), and say so.

    Idempotent. A release that overtook its hold is remembered, so the late
    HoldSeats holds nothing.
    """
    with transaction.atomic(using=ALIAS):
        hold = BookingHold.objects.using(ALIAS).select_for_update().filter(pk=booking_id).first()
        if hold is None:
            BookingHold.objects.using(ALIAS).create(
                booking_id=booking_id, state=BookingHold.State.RELEASED
            )
            return
        if hold.state not in (BookingHold.State.HELD, BookingHold.State.SOLD):
            return  # released already, or nothing was ever held
        allocations = list(
            SeatAllocation.objects.using(ALIAS)
            .select_related("section")
            .filter(booking_id=booking_id)
        )
        voided = list(
            Ticket.objects.using(ALIAS)
            .filter(booking_id=booking_id, voided_at__isnull=True)
            .values_list("code", flat=True)
        )
        Ticket.objects.using(ALIAS).filter(code__any=voided).update(voided_at=timezone.now())
        SeatAllocation.objects.using(ALIAS).filter(booking_id=booking_id).delete()
        hold.state = BookingHold.State.RELEASED
        hold.save(using=ALIAS, update_fields=["state", "updated_at"])
        publish(
            messages.SeatsReleased(
                booking_id=str(booking_id),
                seats=tuple(_held(a, a.section.name) for a in allocations),
                tickets_voided=tuple(voided),
            ),
            source=ALIAS,
        )


def tickets_issue(*, booking_id: uuid.UUID) -> None:
    """Sell a booking's held seats: one ticket each, with a unique code. Idempotent.

    Only a HELD booking is sold; one released meanwhile (its hold expired)
    gets no tickets, and the saga hears nothing from here for it.
    """
    with transaction.atomic(using=ALIAS):
        hold = BookingHold.objects.using(ALIAS).select_for_update().filter(pk=booking_id).first()
        if hold is None or hold.state != BookingHold.State.HELD:
            return
        allocations = list(
            SeatAllocation.objects.using(ALIAS)
            .select_related("section")
            .filter(booking_id=booking_id)
        )
        tickets = [
            Ticket(
                code=_ticket_code(),
                booking_id=booking_id,
                performance_id=a.performance_id,
                section=a.section,
                row=a.row,
                number=a.number,
                price=a.price,
            )
            for a in allocations
        ]
        Ticket.objects.using(ALIAS).bulk_create(tickets)
        SeatAllocation.objects.using(ALIAS).filter(booking_id=booking_id).update(
            status=SeatAllocation.Status.SOLD, hold_expires_at=None
        )
        hold.state = BookingHold.State.SOLD
        hold.save(using=ALIAS, update_fields=["state", "updated_at"])
        publish(
            messages.TicketsIssued(
                booking_id=str(booking_id),
                tickets=tuple(
                    messages.IssuedTicket(
                        code=t.code,
                        section=t.section.name,
                        row=t.row,
                        number=t.number,
                        price=_money(t.price),
                    )
                    for t in tickets
                ),
            ),
            source=ALIAS,
        )


def _ticket_code() -> str:
    # 16 characters from an alphabet without look-alikes: unique by the database.
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))
