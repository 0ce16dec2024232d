"""The bookings saga's invariants (project/invariants.py): the saga coordinates
ticketing, orders and customers, so its rules read their `public` queries.

A booking changed since the window's `settled_before` may still have messages
in flight (a release, a cancel): its cross-module rules wait for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from apps.bookings.public.queries import BookingSummary, booking_summaries
from apps.orders.public.queries import order_states
from apps.ticketing.public.queries import seats_by_booking
from project.invariants import AuditWindow, invariant

ENDED = frozenset({"REJECTED", "EXPIRED", "CANCELLED"})
CONFIRMED = frozenset({"CONFIRMED"})


def _settled(window: AuditWindow, states: frozenset[str]) -> list[BookingSummary]:
    """The bookings in `states` whose last messages are no longer in flight."""
    return [
        booking
        for booking in booking_summaries()
        if booking.state in states and booking.updated_at < window.settled_before
    ]


def _order_states(bookings: list[BookingSummary]) -> dict[uuid.UUID, str]:
    return order_states(order_ids=[b.order_id for b in bookings if b.order_id])


@invariant
def seats_belong_to_a_known_booking(window: AuditWindow) -> Iterator[str]:
    known = {booking.booking_id for booking in booking_summaries()}
    for booking_id in sorted(set(seats_by_booking()) - known):
        yield f"seats or tickets for booking {booking_id}, which bookings does not know"


@invariant
def no_booking_is_stuck(window: AuditWindow) -> Iterator[str]:
    for booking in booking_summaries():
        if booking.state in ENDED | CONFIRMED or booking.updated_at >= window.stuck_before:
            continue
        if booking.hold_expires_at is None or booking.hold_expires_at < window.stuck_before:
            yield (
                f"booking {booking.booking_id} is stuck in {booking.state} since"
                f" {booking.updated_at.isoformat(timespec='seconds')}"
            )


@invariant
def a_confirmed_booking_has_an_approved_order(window: AuditWindow) -> Iterator[str]:
    confirmed = _settled(window, CONFIRMED)
    states = _order_states(confirmed)
    for booking in confirmed:
        order_state = states.get(booking.order_id) if booking.order_id else None
        if order_state != "APPROVED":
            yield (
                f"booking {booking.booking_id} is CONFIRMED but its order"
                f" {booking.order_id} is {order_state or 'missing'}"
            )


@invariant
def a_confirmed_booking_has_its_seats_sold(window: AuditWindow) -> Iterator[str]:
    seats = seats_by_booking()
    for booking in _settled(window, CONFIRMED):
        held = seats.get(booking.booking_id)
        if held is None or held.sold != booking.seats:
            yield f"booking {booking.booking_id} is CONFIRMED but has unsold seats"


@invariant
def an_ended_booking_holds_no_seats(window: AuditWindow) -> Iterator[str]:
    seats = seats_by_booking()
    for booking in _settled(window, ENDED):
        held = seats.get(booking.booking_id)
        if held is not None and (held.held or held.sold):
            yield f"booking {booking.booking_id} is {booking.state} but still has seats"


@invariant
def an_ended_booking_holds_no_credit(window: AuditWindow) -> Iterator[str]:
    ended = _settled(window, ENDED)
    states = _order_states(ended)
    for booking in ended:
        order_state = states.get(booking.order_id) if booking.order_id else None
        if order_state in ("PENDING", "APPROVED"):
            yield (
                f"booking {booking.booking_id} is {booking.state} but its order"
                f" {booking.order_id} is still {order_state} (credit held)"
            )
