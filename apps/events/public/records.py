"""The tables every module keeps in its own schema to take part in messaging.

A module declares them in its `models.py` by subclassing; the event platform
finds them by type, so no module is imported by name:

    class Outbox(OutboxMessage): ...
    class Checkpoint(SubscriberCheckpoint): ...
    class Parked(ParkedMessage): ...

- `OutboxMessage`: what the module published, written in the same transaction
  as the change; moved to the event store by the relay, then deleted.
- `SubscriberCheckpoint`: how far each of the module's subscribers has read the
  store, committed with the handler's effects (exactly-once).
- `ParkedMessage`: messages a subscriber gave up on after its retries, kept for
  an operator to see and retry.
"""

from __future__ import annotations

from functools import cache

from django.apps import apps
from django.db import models

from project.topology import alias_for_app_label


class OutboxMessage(models.Model):
    id = models.BigAutoField(primary_key=True)
    # Unique in the store, which the relay relies on; here a fresh uuid4 per
    # publish, so an index would only cost every published row an entry.
    message_id = models.UUIDField()
    type = models.CharField(max_length=200)
    version = models.PositiveSmallIntegerField()
    occurred_at = models.DateTimeField()
    aggregate_id = models.CharField(max_length=200)
    correlation_id = models.UUIDField()
    causation_id = models.UUIDField(null=True, blank=True)
    payload = models.JSONField()
    # Set when relayed, for the retention window; rows are deleted after it.
    relayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["id"]
        verbose_name = "outbox message"
        indexes = [
            models.Index(
                fields=["id"],
                name="%(app_label)s_outbox_pending",
                condition=models.Q(relayed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.message_id}"


class SubscriberCheckpoint(models.Model):
    subscriber = models.CharField(max_length=200, unique=True)
    position = models.BigIntegerField(default=0)
    # The first position of a batch being applied; left set if the process died.
    inflight_position = models.BigIntegerField(null=True, blank=True)
    # The message being retried one at a time, and its attempts so far.
    failing_position = models.BigIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    # The message types the code that last moved it handles ("*": all); older
    # code, which handles fewer, must not move it past the ones it does not know.
    handled_types = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        verbose_name = "subscriber checkpoint"

    def __str__(self) -> str:
        return f"{self.subscriber} @ {self.position}"


class ParkedMessage(models.Model):
    subscriber = models.CharField(max_length=200)
    position = models.BigIntegerField()
    message_id = models.UUIDField()
    type = models.CharField(max_length=200)
    attempts = models.PositiveIntegerField()
    error = models.TextField()
    parked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["subscriber", "position"]
        verbose_name = "parked message"
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber", "position"], name="%(app_label)s_parked_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscriber}: {self.type} at {self.position}"


@cache
def _models_by_alias(base: type[models.Model]) -> dict[str, type[models.Model]]:
    found: dict[str, type[models.Model]] = {}
    for model in apps.get_models():
        if issubclass(model, base):
            alias = alias_for_app_label(model._meta.app_label)
            if alias in found:
                raise LookupError(f"{alias} declares two {base.__name__} models")
            found[alias] = model
    return found


def outbox_models() -> dict[str, type[OutboxMessage]]:
    return _models_by_alias(OutboxMessage)  # type: ignore[return-value]


def checkpoint_models() -> dict[str, type[SubscriberCheckpoint]]:
    return _models_by_alias(SubscriberCheckpoint)  # type: ignore[return-value]


def parked_models() -> dict[str, type[ParkedMessage]]:
    return _models_by_alias(ParkedMessage)  # type: ignore[return-value]
