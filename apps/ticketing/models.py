"""Models of the ticketing module, stored in the `ticketing` schema.

References to other modules' objects (a booking) are plain UUID columns, never
foreign keys. A seat that is free has no row; a held or sold seat has exactly
one `SeatAllocation`, which the database guarantees (one booking per seat).
"""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import models

from apps.events.public.records import OutboxMessage, ParkedMessage, SubscriberCheckpoint
from project.api.idempotency import IdempotencyRecord


class Venue(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    city = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.city})"


class Section(models.Model):
    """A block of `rows` x `seats_per_row` seats, numbered from 1 in each row."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    venue = models.ForeignKey(Venue, on_delete=models.CASCADE, related_name="sections")
    name = models.CharField(max_length=100)
    rows = models.PositiveIntegerField()
    seats_per_row = models.PositiveIntegerField()

    class Meta:
        ordering = ["venue", "name"]
        constraints = [
            models.UniqueConstraint(fields=["venue", "name"], name="section_name_per_venue"),
            models.CheckConstraint(
                condition=models.Q(rows__gt=0, seats_per_row__gt=0), name="section_has_seats"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.venue.name}: {self.name}"

    @property
    def capacity(self) -> int:
        return self.rows * self.seats_per_row


class Show(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class Performance(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    show = models.ForeignKey(Show, on_delete=models.PROTECT, related_name="performances")
    venue = models.ForeignKey(Venue, on_delete=models.PROTECT, related_name="performances")
    starts_at = models.DateTimeField()

    class Meta:
        ordering = ["starts_at"]

    def __str__(self) -> str:
        return f"{self.show.title} at {self.starts_at:%Y-%m-%d %H:%M}"


class SectionPrice(models.Model):
    """What a seat in a section costs at one performance."""

    performance = models.ForeignKey(Performance, on_delete=models.CASCADE, related_name="prices")
    section = models.ForeignKey(Section, on_delete=models.PROTECT, related_name="prices")
    price = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["performance", "section"], name="one_price_per_section"
            ),
            models.CheckConstraint(condition=models.Q(price__gte=0), name="price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.section.name}: {self.price}"

    def clean(self) -> None:
        # Seats are looked up by section name within the performance's venue.
        if self.section.venue_id != self.performance.venue_id:
            raise ValidationError({"section": "This section is in another venue."})


class BookingHold(models.Model):
    """Ticketing's record of one booking's seats: what the saga's commands did.

    Makes the commands idempotent, and lets a release that overtook its hold
    win: the late HoldSeats then holds nothing.
    """

    class State(models.TextChoices):
        HELD = "HELD"
        SOLD = "SOLD"
        RELEASED = "RELEASED"
        UNAVAILABLE = "UNAVAILABLE"

    booking_id = models.UUIDField(primary_key=True)
    performance = models.ForeignKey(
        Performance, on_delete=models.PROTECT, related_name="holds", null=True, blank=True
    )
    state = models.CharField(max_length=12, choices=State.choices)
    hold_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.booking_id} {self.state}"


class SeatAllocation(models.Model):
    """A seat held or sold for one booking. Free seats have no row."""

    class Status(models.TextChoices):
        HELD = "HELD"
        SOLD = "SOLD"

    performance = models.ForeignKey(
        Performance, on_delete=models.PROTECT, related_name="allocations"
    )
    section = models.ForeignKey(Section, on_delete=models.PROTECT, related_name="allocations")
    row = models.PositiveIntegerField()
    number = models.PositiveIntegerField()
    booking_id = models.UUIDField(db_index=True)
    status = models.CharField(max_length=4, choices=Status.choices, default=Status.HELD)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    hold_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["section", "row", "number"]
        constraints = [
            # The invariant: a seat of a performance belongs to at most one booking.
            models.UniqueConstraint(
                fields=["performance", "section", "row", "number"], name="one_booking_per_seat"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.section.name} row {self.row} seat {self.number}: {self.status}"


class Ticket(models.Model):
    code = models.CharField(max_length=20, unique=True)
    booking_id = models.UUIDField(db_index=True)
    performance = models.ForeignKey(Performance, on_delete=models.PROTECT, related_name="tickets")
    section = models.ForeignKey(Section, on_delete=models.PROTECT, related_name="tickets")
    row = models.PositiveIntegerField()
    number = models.PositiveIntegerField()
    price = models.DecimalField(max_digits=12, decimal_places=2)
    issued_at = models.DateTimeField(auto_now_add=True)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["section", "row", "number"]

    def __str__(self) -> str:
        return self.code


class Outbox(OutboxMessage):
    """Messages this module published, waiting for the relay."""


class Checkpoint(SubscriberCheckpoint):
    """How far each of this module's subscribers has read the event store."""


class Parked(ParkedMessage):
    """Messages this module's subscribers gave up on; retried by an operator."""


class IdempotencyKey(IdempotencyRecord):
    """Idempotency keys of this module's creating endpoints."""
