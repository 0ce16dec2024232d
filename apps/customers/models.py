"""Models of the customers module, stored in the `customers` schema.

References to other modules' objects are plain UUID columns, never foreign keys.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import models

from apps.events.public.records import OutboxMessage, ParkedMessage, SubscriberCheckpoint
from project.api.idempotency import IdempotencyRecord


class Customer(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    email = models.EmailField(unique=True)
    region = models.CharField(max_length=32, db_index=True)
    credit_limit = models.DecimalField(max_digits=12, decimal_places=2)
    # The sum of the customer's OPEN reservations, kept in the transaction that
    # changes the ledger, under this row's lock: a credit check reads one row,
    # not every order the customer ever had. The ledger stays the record
    # (`audit_consistency` compares the two).
    # A database default too: code from before it (a rolling deploy) still inserts.
    reserved_credit = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0.00"), db_default=Decimal("0.00")
    )
    # The user (in `platform`) who owns this customer, if any: a plain id.
    owner_user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(credit_limit__gte=0), name="customer_credit_limit_not_negative"
            ),
            # No bug in a credit check can overdraw: the database refuses it.
            models.CheckConstraint(
                condition=models.Q(reserved_credit__gte=0)
                & models.Q(reserved_credit__lte=models.F("credit_limit")),
                name="customer_reserved_within_limit",
                violation_error_message="Reserved credit must lie between 0 and the credit limit.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    @property
    def available_credit(self) -> Decimal:
        """The limit less what open orders reserve (the running total)."""
        return self.credit_limit - self.reserved_credit


class CreditReservation(models.Model):
    """The credit ledger: one row per order. Available credit is the limit minus
    the amounts of OPEN reservations, kept summed in `Customer.reserved_credit`
    (what credit checks read)."""

    class State(models.TextChoices):
        OPEN = "OPEN"
        RELEASED = "RELEASED"
        # The order was cancelled before its credit was checked: nothing is held,
        # and a late OrderPlaced for it reserves nothing.
        VOID = "VOID"

    order_id = models.UUIDField(primary_key=True)
    # Indexed by `reservation_customer_state` (customer first), not on its own.
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="reservations", db_index=False
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["customer", "state"], name="reservation_customer_state")]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.amount} {self.state}"


class CustomerOrder(models.Model):
    """Read model: each customer's orders with their state, kept from order events
    (the `customers.order_history` projection)."""

    order_id = models.UUIDField(primary_key=True)
    customer_id = models.UUIDField()  # indexed by `customer_order_recent` (first column)
    state = models.CharField(max_length=10)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    rejection_reason = models.CharField(max_length=40, blank=True, default="")
    placed_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    last_position = models.BigIntegerField()

    class Meta:
        ordering = ["-placed_at"]
        indexes = [models.Index(fields=["customer_id", "-placed_at"], name="customer_order_recent")]

    def __str__(self) -> str:
        return f"{self.order_id} {self.state}"


class IdempotencyKey(IdempotencyRecord):
    """Idempotency keys of this module's creating endpoints."""


class Outbox(OutboxMessage):
    """Messages this module published, waiting for the relay."""


class Checkpoint(SubscriberCheckpoint):
    """How far each of this module's subscribers has read the event store."""


class Parked(ParkedMessage):
    """Messages this module's subscribers gave up on; retried by an operator."""
