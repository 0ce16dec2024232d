"""The saga's answers from ticketing and orders. Thin: the saga decides, services act."""

from __future__ import annotations

import uuid

from apps.bookings import services
from apps.events.public import Envelope, subscribe
from apps.orders.public.messages import (
    OrderApproved,
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
)
from apps.ticketing.public.messages import SeatsHeld, SeatsUnavailable, TicketsIssued


def _advance(booking_id: str, message: object, envelope: Envelope) -> None:
    services.booking_advance(
        booking_id=uuid.UUID(booking_id),
        trigger=type(message),  # type: ignore[arg-type]
        message=message,  # type: ignore[arg-type]
        cause=envelope.message_id,
    )


@subscribe(SeatsHeld)
def seats_held(message: SeatsHeld, envelope: Envelope) -> None:
    _advance(message.booking_id, message, envelope)


@subscribe(SeatsUnavailable)
def seats_unavailable(message: SeatsUnavailable, envelope: Envelope) -> None:
    _advance(message.booking_id, message, envelope)


@subscribe(TicketsIssued)
def tickets_issued(message: TicketsIssued, envelope: Envelope) -> None:
    _advance(message.booking_id, message, envelope)


# Order events fan out to everyone: only those of orders a booking placed count.
# The others (the online store's) are not even read (`only_if_set`); the check
# in each handler stays, for what the filter leaves to it (older versions,
# parked retries, workers on older code during a deploy).
@subscribe(OrderPlaced, only_if_set="origin")
def order_placed(message: OrderPlaced, envelope: Envelope) -> None:
    if message.origin:
        _advance(message.origin, message, envelope)


@subscribe(OrderApproved, only_if_set="origin")
def order_approved(message: OrderApproved, envelope: Envelope) -> None:
    if message.origin:
        _advance(message.origin, message, envelope)


@subscribe(OrderRejected, only_if_set="origin")
def order_rejected(message: OrderRejected, envelope: Envelope) -> None:
    if message.origin:
        _advance(message.origin, message, envelope)


@subscribe(OrderCancelled, only_if_set="origin")
def order_cancelled(message: OrderCancelled, envelope: Envelope) -> None:
    if message.origin:
        _advance(message.origin, message, envelope)
