"""Models of the orders module, stored in the `orders` schema.

References to other modules' objects are plain UUID columns, never foreign keys.
"""

from __future__ import annotations

import uuid

from django.db import models

from apps.events.public.records import OutboxMessage, ParkedMessage, SubscriberCheckpoint
from project.api.idempotency import IdempotencyRecord


class Order(models.Model):
    class State(models.TextChoices):
        PENDING = "PENDING"
        APPROVED = "APPROVED"
        REJECTED = "REJECTED"
        CANCELLED = "CANCELLED"

    FINAL_STATES = frozenset({State.REJECTED, State.CANCELLED})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Found through `order_customer_state`, whose first column it is: an index
    # of its own would only cost every placement one more entry to write.
    customer_id = models.UUIDField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="EUR")
    rejection_reason = models.CharField(max_length=40, blank=True, default="")
    # The booking that asked for this order, if any.
    origin = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["customer_id", "state"], name="order_customer_state")]

    def __str__(self) -> str:
        return f"order {self.id} ({self.state})"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku} @ {self.unit_price}"


class EarlyCancellation(models.Model):
    """A CancelOrder that arrived before its PlaceOrder (say the PlaceOrder was
    parked and retried later): the order, when it comes, is born CANCELLED."""

    order_id = models.UUIDField(primary_key=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"cancelled before placed: {self.order_id}"


class IdempotencyKey(IdempotencyRecord):
    """Idempotency keys of this module's creating endpoints."""


class Outbox(OutboxMessage):
    """Messages this module published, waiting for the relay."""


class Checkpoint(SubscriberCheckpoint):
    """How far each of this module's subscribers has read the event store."""


class Parked(ParkedMessage):
    """Messages this module's subscribers gave up on; retried by an operator."""
