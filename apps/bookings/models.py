"""Models of the bookings module, stored in the `bookings` schema.

References to other modules' objects (customer, performance, order) are plain
UUID columns, never foreign keys.
"""

from __future__ import annotations

import uuid

from django.db import models

from apps.events.public.records import OutboxMessage, ParkedMessage, SubscriberCheckpoint
from project.api.idempotency import IdempotencyRecord


class Booking(models.Model):
    """A Book Seats saga: its state, and what the other modules answered."""

    class State(models.TextChoices):
        REQUESTED = "REQUESTED"
        SEATS_HELD = "SEATS_HELD"
        AWAITING_PAYMENT = "AWAITING_PAYMENT"
        CONFIRMED = "CONFIRMED"
        REJECTED = "REJECTED"
        EXPIRED = "EXPIRED"
        CANCELLED = "CANCELLED"

    FINAL_STATES = frozenset({State.REJECTED, State.EXPIRED, State.CANCELLED})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer_id = models.UUIDField(db_index=True)
    performance_id = models.UUIDField(db_index=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.REQUESTED)
    # What was asked for: [{"section", "quantity"}].
    seats_requested = models.JSONField()
    # What ticketing held: [{"section", "row", "number", "price"}].
    seats = models.JSONField(default=list, blank=True)
    tickets = models.JSONField(default=list, blank=True)  # [{"code", ... , "price"}]
    order_id = models.UUIDField(null=True, blank=True, unique=True)
    total = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    reason = models.CharField(max_length=40, blank=True, default="")
    # Set while the seats are held and not paid for: the hold expires then.
    hold_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # The saga's correlation id: every command it sends carries it.
    correlation_id = models.UUIDField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["customer_id", "state"], name="booking_customer_state")]

    def __str__(self) -> str:
        return f"{self.id} {self.state}"


class IdempotencyKey(IdempotencyRecord):
    """Idempotency keys of this module's creating endpoints."""


class Outbox(OutboxMessage):
    """Messages this module published, waiting for the relay."""


class Checkpoint(SubscriberCheckpoint):
    """How far each of this module's subscribers has read the event store."""


class Parked(ParkedMessage):
    """Messages this module's subscribers gave up on; retried by an operator."""
