"""Commands of the bookings module: request a booking, move its saga on, expire and cancel.

Each runs in one transaction on the `bookings` alias, with the booking's row
locked: what the saga sends and the booking's new state commit together. The
steps themselves are in `saga.py`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.bookings import saga
from apps.bookings.models import Booking
from apps.events.public import Message, MessageContext, publish
from apps.ticketing.public.messages import HoldSeats, SeatRequest

logger = logging.getLogger(__name__)
ALIAS = "bookings"
State = Booking.State


class BookingNotCancellable(Exception):
    """Only a CONFIRMED booking can be cancelled by its customer."""


def booking_request(
    *, customer_id: uuid.UUID, performance_id: uuid.UUID, seats: Sequence[tuple[str, int]]
) -> Booking:
    """Create a REQUESTED booking and ask ticketing to hold its seats.

    The saga gets a correlation id of its own (not the request's, which a client
    chooses): its timeline is its own messages only.
    """
    correlation_id = uuid.uuid4()
    with transaction.atomic(using=ALIAS):
        booking = Booking.objects.using(ALIAS).create(
            customer_id=customer_id,
            performance_id=performance_id,
            seats_requested=[{"section": name, "quantity": qty} for name, qty in seats],
            correlation_id=correlation_id,
        )
        publish(
            HoldSeats(
                booking_id=str(booking.id),
                performance_id=str(performance_id),
                seats=tuple(SeatRequest(section=name, quantity=qty) for name, qty in seats),
            ),
            source=ALIAS,
            context=MessageContext(correlation_id=correlation_id),
        )
    return booking


def booking_advance(
    *,
    booking_id: uuid.UUID,
    trigger: saga.Trigger,
    message: Message | None = None,
    cause: uuid.UUID | None = None,
) -> bool:
    """Take the booking through the step `trigger` calls for; False if none applies
    (a late or repeated answer: nothing changes)."""
    with transaction.atomic(using=ALIAS):
        booking = Booking.objects.using(ALIAS).select_for_update().filter(pk=booking_id).first()
        if booking is None:
            logger.warning("%s for unknown booking %s: ignored", trigger, booking_id)
            return False
        step = saga.step_for(booking, trigger)
        if step is None:
            logger.info(
                "%s for booking %s in %s: nothing to do", trigger, booking_id, booking.state
            )
            return False
        step.record(booking, message)
        booking.state = step.to
        booking.save(using=ALIAS)
        # Every command of the saga carries its correlation id, whoever moved it on.
        context = MessageContext(correlation_id=booking.correlation_id, causation_id=cause)
        for command in step.send:
            publish(command(booking), source=ALIAS, context=context)
        announcement = saga.announcement(booking)
        if announcement is not None:
            publish(announcement, source=ALIAS, context=context)
    return True


def booking_cancel(*, booking_id: uuid.UUID) -> None:
    """The customer cancels a CONFIRMED booking: seats released, order cancelled."""
    if not booking_advance(booking_id=booking_id, trigger=saga.CUSTOMER_CANCELLED):
        raise BookingNotCancellable(f"booking {booking_id} is not CONFIRMED")


def bookings_expire(*, now: datetime | None = None, limit: int = 500) -> int:
    """Expire the unpaid holds whose time is up; return how many."""
    due = list(
        Booking.objects.using(ALIAS)
        .filter(state__in=saga.HELD_UNPAID, hold_expires_at__lte=now or timezone.now())
        .order_by("hold_expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(booking_advance(booking_id=pk, trigger=saga.HOLD_EXPIRED) for pk in due)
