"""What the ticketing module does with the booking saga's commands. Thin: services do it."""

from __future__ import annotations

import uuid

from apps.events.public import Envelope, subscribe
from apps.ticketing import services
from apps.ticketing.public.messages import HoldSeats, IssueTickets, ReleaseSeats


@subscribe(HoldSeats)
def hold(message: HoldSeats, envelope: Envelope) -> None:
    services.seats_hold(
        booking_id=uuid.UUID(message.booking_id),
        performance_id=uuid.UUID(message.performance_id),
        requests=[(seat.section, seat.quantity) for seat in message.seats],
    )


@subscribe(ReleaseSeats)
def release(message: ReleaseSeats, envelope: Envelope) -> None:
    services.seats_release(booking_id=uuid.UUID(message.booking_id))


@subscribe(IssueTickets)
def issue(message: IssueTickets, envelope: Envelope) -> None:
    services.tickets_issue(booking_id=uuid.UUID(message.booking_id))
