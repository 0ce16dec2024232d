"""Models of the events module, stored in the `events` schema.

The event store is append-only by the database's own rules (migration 0001): a
trigger refuses UPDATE, DELETE and TRUNCATE, and the owning role has given up
those rights. Django does not manage the table (`managed = False`), so no test
flush and no migration can try to rewrite it.
"""

from __future__ import annotations

from django.db import models

from apps.events.public.records import ParkedMessage, SubscriberCheckpoint


class StoredEvent(models.Model):
    """One message in the global, ordered, append-only log."""

    position = models.BigIntegerField(primary_key=True)
    message_id = models.UUIDField(unique=True)
    type = models.CharField(max_length=200)
    version = models.PositiveSmallIntegerField()
    source = models.CharField(max_length=50)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField()
    aggregate_id = models.CharField(max_length=200)
    correlation_id = models.UUIDField()
    causation_id = models.UUIDField(null=True, blank=True)
    payload = models.JSONField()

    class Meta:
        managed = False
        db_table = "stored_event"
        ordering = ["position"]
        verbose_name = "stored event"

    def __str__(self) -> str:
        return f"#{self.position} {self.type}"


class Checkpoint(SubscriberCheckpoint):
    """Checkpoints of the events module's own projections."""


class Parked(ParkedMessage):
    """Messages the events module's projections gave up on."""


class MessageTypeStats(models.Model):
    """A projection: how many messages of each type the store holds, and the latest."""

    type = models.CharField(max_length=200, primary_key=True)
    count = models.BigIntegerField(default=0)
    last_position = models.BigIntegerField(default=0)
    last_occurred_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["type"]
        verbose_name = "message type statistics"
        verbose_name_plural = "message type statistics"

    def __str__(self) -> str:
        return f"{self.type}: {self.count}"
