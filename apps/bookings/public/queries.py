"""What other modules may ask the bookings module. Frozen DTOs, never models."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from apps.bookings.models import Booking

ALIAS = "bookings"


@dataclass(frozen=True)
class BookingSummary:
    booking_id: uuid.UUID
    customer_id: uuid.UUID
    state: str
    order_id: uuid.UUID | None
    seats: int
    tickets: int
    hold_expires_at: datetime | None
    updated_at: datetime


def booking_summaries() -> list[BookingSummary]:
    """Every booking, briefly (for audits)."""
    return [
        BookingSummary(
            booking_id=b.id,
            customer_id=b.customer_id,
            state=b.state,
            order_id=b.order_id,
            seats=len(b.seats),
            tickets=len(b.tickets),
            hold_expires_at=b.hold_expires_at,
            updated_at=b.updated_at,
        )
        for b in Booking.objects.using(ALIAS).order_by("created_at").iterator()
    ]
