"""The Book Seats saga, in one place: every step, what triggers it, and what it sends.

bookings orchestrates; ticketing and orders take part. Read top to bottom:

    REQUESTED --SeatsHeld--> SEATS_HELD (send orders.PlaceOrder)
              --SeatsUnavailable--> REJECTED
    SEATS_HELD --OrderPlaced--> AWAITING_PAYMENT
    SEATS_HELD | AWAITING_PAYMENT
        --OrderApproved--> AWAITING_PAYMENT (send ticketing.IssueTickets; no expiry now)
        --OrderRejected--> REJECTED (compensate: ticketing.ReleaseSeats)
        --hold expired--> EXPIRED (compensate: ReleaseSeats, orders.CancelOrder)
    AWAITING_PAYMENT --TicketsIssued--> CONFIRMED
    CONFIRMED --customer cancelled--> CANCELLED (compensate: ReleaseSeats, CancelOrder)

and, should the order be cancelled by anyone but the saga (which orders refuses,
but an operator with SQL could):
    SEATS_HELD | AWAITING_PAYMENT --OrderCancelled--> REJECTED (compensate: ReleaseSeats)
    CONFIRMED --OrderCancelled--> CANCELLED (compensate: ReleaseSeats)

A trigger that matches no step for the booking's state is a late or repeated
answer, and changes nothing: e.g. OrderApproved after the hold expired (the
CancelOrder already sent cancels that order and releases its credit).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from apps.bookings.models import Booking
from apps.bookings.public import messages as booking_messages
from apps.events.public import Command, Event, Message
from apps.orders.public import messages as orders
from apps.ticketing.public import messages as ticketing

State = Booking.State
Trigger = type[Message] | str
HOLD_EXPIRED = "hold expired"
CUSTOMER_CANCELLED = "customer cancelled"


# --- What a step records from the message that triggered it -----------------


def _nothing(booking: Booking, message: Any) -> None:
    pass


def _seats_held(booking: Booking, message: ticketing.SeatsHeld) -> None:
    booking.seats = [seat.model_dump() for seat in message.seats]
    booking.total = Decimal(message.total)
    booking.order_id = uuid.uuid4()
    booking.hold_expires_at = _parse_time(message.hold_expires_at)


def _reason(booking: Booking, message: ticketing.SeatsUnavailable | orders.OrderRejected) -> None:
    booking.reason = message.reason
    booking.hold_expires_at = None


def _paid(booking: Booking, message: orders.OrderApproved) -> None:
    booking.hold_expires_at = None  # paid for: the hold no longer runs out


def _tickets(booking: Booking, message: ticketing.TicketsIssued) -> None:
    booking.tickets = [ticket.model_dump() for ticket in message.tickets]


def _ended(booking: Booking, message: Any) -> None:
    booking.hold_expires_at = None
    booking.tickets = []  # voided with the seats


def _order_cancelled(booking: Booking, message: orders.OrderCancelled) -> None:
    _ended(booking, message)
    if booking.state != State.CONFIRMED:
        booking.reason = "ORDER_CANCELLED"


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- What a step sends -------------------------------------------------------


def place_order(booking: Booking) -> Command:
    return orders.PlaceOrder(
        order_id=str(booking.order_id),
        customer_id=str(booking.customer_id),
        lines=tuple(
            orders.OrderLine(
                sku=f"SEAT {seat['section']} R{seat['row']} S{seat['number']}"[:64],
                quantity=1,
                unit_price=seat["price"],
            )
            for seat in booking.seats
        ),
        origin=str(booking.id),
    )


def issue_tickets(booking: Booking) -> Command:
    return ticketing.IssueTickets(booking_id=str(booking.id))


def release_seats(booking: Booking) -> Command:
    return ticketing.ReleaseSeats(booking_id=str(booking.id))


def cancel_order(booking: Booking) -> Command:
    return orders.CancelOrder(order_id=str(booking.order_id))


# --- The steps ---------------------------------------------------------------


def _always(booking: Booking) -> bool:
    return True


def _unpaid(booking: Booking) -> bool:
    # An approval clears the deadline; an expiry that raced it must not win.
    return booking.hold_expires_at is not None


@dataclass(frozen=True)
class Step:
    on: Trigger
    when: frozenset[str]
    to: str
    record: Callable[[Booking, Any], None] = _nothing
    send: tuple[Callable[[Booking], Command], ...] = ()
    only_if: Callable[[Booking], bool] = _always


def _states(*states: str) -> frozenset[str]:
    return frozenset(states)


HELD_UNPAID = _states(State.SEATS_HELD, State.AWAITING_PAYMENT)

STEPS: tuple[Step, ...] = (
    Step(ticketing.SeatsHeld, _states(State.REQUESTED), State.SEATS_HELD, _seats_held,
         send=(place_order,)),
    Step(ticketing.SeatsUnavailable, _states(State.REQUESTED), State.REJECTED, _reason),
    Step(orders.OrderPlaced, _states(State.SEATS_HELD), State.AWAITING_PAYMENT),
    Step(orders.OrderApproved, HELD_UNPAID, State.AWAITING_PAYMENT, _paid,
         send=(issue_tickets,)),
    Step(orders.OrderRejected, HELD_UNPAID, State.REJECTED, _reason,
         send=(release_seats,)),  # compensation
    Step(ticketing.TicketsIssued, _states(State.AWAITING_PAYMENT), State.CONFIRMED, _tickets),
    Step(HOLD_EXPIRED, HELD_UNPAID, State.EXPIRED, _ended,
         send=(release_seats, cancel_order), only_if=_unpaid),  # compensations
    Step(CUSTOMER_CANCELLED, _states(State.CONFIRMED), State.CANCELLED, _ended,
         send=(release_seats, cancel_order)),  # compensations
    Step(orders.OrderCancelled, HELD_UNPAID, State.REJECTED, _order_cancelled,
         send=(release_seats,)),  # compensation
    Step(orders.OrderCancelled, _states(State.CONFIRMED), State.CANCELLED, _order_cancelled,
         send=(release_seats,)),  # compensation
)  # fmt: skip


def step_for(booking: Booking, trigger: Trigger) -> Step | None:
    """The step `trigger` takes the booking through, or None (late or repeated)."""
    for step in STEPS:
        if step.on == trigger and booking.state in step.when and step.only_if(booking):
            return step
    return None


def announcement(booking: Booking) -> Event | None:
    """The event that says how the booking ended up, when a step ends it."""
    customer_id, booking_id = str(booking.customer_id), str(booking.id)
    if booking.state == State.CONFIRMED:
        return booking_messages.BookingConfirmed(
            booking_id=booking_id,
            customer_id=customer_id,
            order_id=str(booking.order_id),
            total=f"{booking.total:.2f}",
            tickets=tuple(ticket["code"] for ticket in booking.tickets),
        )
    if booking.state == State.REJECTED:
        return booking_messages.BookingRejected(
            booking_id=booking_id, customer_id=customer_id, reason=booking.reason
        )
    if booking.state == State.EXPIRED:
        return booking_messages.BookingExpired(booking_id=booking_id, customer_id=customer_id)
    if booking.state == State.CANCELLED:
        return booking_messages.BookingCancelled(booking_id=booking_id, customer_id=customer_id)
    return None
