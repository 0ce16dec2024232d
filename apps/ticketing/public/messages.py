"""Messages of the ticketing module: the commands it takes from the booking saga
and the events it answers with.

Money is a decimal string ("12.34"); ids are UUID strings; times ISO 8601 with zone.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from apps.events.public import Command, Event, MessagePart

UnavailableReason = Literal["NOT_ENOUGH_SEATS", "UNKNOWN_PERFORMANCE", "UNKNOWN_SECTION"]


class SeatRequest(MessagePart):
    section: str  # the section's name, as the venue calls it
    quantity: int = Field(ge=1, le=100)


class HeldSeat(MessagePart):
    section: str
    row: int
    number: int
    price: str


class IssuedTicket(MessagePart):
    code: str
    section: str
    row: int
    number: int
    price: str


class HoldSeats(Command):
    message_type: ClassVar[str] = "ticketing.HoldSeats"
    aggregate_field: ClassVar[str] = "booking_id"

    booking_id: str
    performance_id: str
    seats: tuple[SeatRequest, ...]


class ReleaseSeats(Command):
    message_type: ClassVar[str] = "ticketing.ReleaseSeats"
    aggregate_field: ClassVar[str] = "booking_id"

    booking_id: str


class IssueTickets(Command):
    message_type: ClassVar[str] = "ticketing.IssueTickets"
    aggregate_field: ClassVar[str] = "booking_id"

    booking_id: str


class SeatsHeld(Event):
    message_type: ClassVar[str] = "ticketing.SeatsHeld"
    aggregate_field: ClassVar[str] = "booking_id"

    booking_id: str
    performance_id: str
    seats: tuple[HeldSeat, ...]
    total: str
    hold_expires_at: str


class SeatsUnavailable(Event):
    message_type: ClassVar[str] = "ticketing.SeatsUnavailable"
    aggregate_field: ClassVar[str] = "booking_id"

    booking_id: str
    performance_id: str
    reason: UnavailableReason


class SeatsReleased(Event):
    message_type: ClassVar[str] = "ticketing.SeatsReleased"
    aggregate_field: ClassVar[str] = "booking_id"

    booking_id: str
    seats: tuple[HeldSeat, ...]
    tickets_voided: tuple[str, ...] = ()  # codes of tickets voided with the seats


class TicketsIssued(Event):
    message_type: ClassVar[str] = "ticketing.TicketsIssued"
    aggregate_field: ClassVar[str] = "booking_id"

    booking_id: str
    tickets: tuple[IssuedTicket, ...]
