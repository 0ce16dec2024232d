"""Messages of the bookings module: how each Book Seats saga ended.

The saga's steps are commands to other modules (`ticketing.HoldSeats`,
`orders.PlaceOrder`, ...); these events say what became of a booking, for
anyone who cares (and for the saga's timeline).
"""

from __future__ import annotations

from typing import ClassVar

from apps.events.public import Event


class BookingConfirmed(Event):
    message_type: ClassVar[str] = "bookings.BookingConfirmed"
    aggregate_field: ClassVar[str] = "booking_id"

    booking_id: str
    customer_id: str
    order_id: str
    total: str
    tickets: tuple[str, ...]  # ticket codes


class BookingRejected(Event):
    message_type: ClassVar[str] = "bookings.BookingRejected"
    aggregate_field: ClassVar[str] = "booking_id"

    booking_id: str
    customer_id: str
    reason: str


class BookingExpired(Event):
    message_type: ClassVar[str] = "bookings.BookingExpired"
    aggregate_field: ClassVar[str] = "booking_id"

    booking_id: str
    customer_id: str


class BookingCancelled(Event):
    message_type: ClassVar[str] = "bookings.BookingCancelled"
    aggregate_field: ClassVar[str] = "booking_id"

    booking_id: str
    customer_id: str
