"""Celery tasks of the event platform: thin wrappers around the services.

The relay runs on the `events` queue; a subscriber's delivery runs on its own
module's queue, so a module's workers can be scaled or moved on their own.
Kicks never raise: with the broker down they are lost, and the beat sweep
(`events.sweep`, every EVENTS_SWEEP_SECONDS) catches up once it is back.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.conf import settings

from apps.events.public.records import outbox_models
from apps.events.public.subscriptions import subscribers
from apps.events.services import (
    outbox_pending,
    outbox_retention_sweep,
    outboxes_relay_all,
    subscriber_deliver,
)

logger = logging.getLogger(__name__)
RELAY_QUEUE = "events"


def _send(task: Task, *args: Any, queue: str, countdown: float | None = None) -> bool:
    try:
        task.apply_async(args=args, queue=queue, countdown=countdown, retry=False)
    except Exception as exc:  # noqa: BLE001 - the broker is down: the sweep catches up
        logger.warning("could not send %s (%s); the periodic sweep will catch up", task.name, exc)
        return False
    return True


def kick_relay() -> bool:
    return _send(relay_outboxes, queue=RELAY_QUEUE)


def kick_deliveries(message_types: set[str] | None = None) -> None:
    """Nudge the subscribers that handle any of `message_types` (None: all of them)."""
    for subscriber in subscribers.all():
        if message_types is None or any(subscriber.wants(t) for t in message_types):
            _send(deliver, subscriber.name, queue=subscriber.module)


@shared_task(name="events.relay", ignore_result=True)
def relay_outboxes() -> int:
    seen_types: set[str] = set()
    moved = outboxes_relay_all(seen_types=seen_types)
    if moved:
        kick_deliveries(seen_types)
    if any(outbox_pending(module=module) for module in outbox_models()):
        kick_relay()  # ran out of its time budget: go on in a fresh task
    return moved


@shared_task(name="events.deliver", ignore_result=True)
def deliver(subscriber: str) -> None:
    report = subscriber_deliver(name=subscriber, max_batches=20)
    module = subscribers.get(subscriber).module
    if report.waiting and report.retry_in is not None:
        _send(deliver, subscriber, queue=module, countdown=report.retry_in)
    elif not (report.caught_up or report.busy):
        _send(deliver, subscriber, queue=module)  # more to do: go on in a fresh task


@shared_task(name="events.sweep", ignore_result=True)
def sweep() -> None:
    """Beat's safety net: relay what kicks missed, and nudge every subscriber."""
    relay_outboxes()
    kick_deliveries()
    if getattr(settings, "EVENTS_OUTBOX_RETENTION_SECONDS", 0) > 0:
        outbox_retention_sweep()
