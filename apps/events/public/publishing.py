"""`publish()`: the only way a module sends a message (guarantee 1, atomic publish).

The message is written to the publishing module's own outbox, on that module's
database alias, inside the transaction that is already open there. It commits
with the change that caused it or not at all. After the commit, the relay is
kicked; if the broker is down the kick is lost, and the periodic sweep relays
the message instead.
"""

from __future__ import annotations

import json
import logging
import uuid

from django.db import connections, transaction
from django.utils import timezone

from apps.events.public.context import current_context
from apps.events.public.envelope import Envelope
from apps.events.public.messages import Message, MessageError, registry
from apps.events.public.records import outbox_models

logger = logging.getLogger(__name__)


class PublishOutsideTransaction(MessageError):
    """publish() was called with no transaction open on the publishing module's alias."""


def publish(message: Message, *, source: str) -> Envelope:
    """Write `message` to `source`'s outbox in the open transaction on `source`'s alias.

    Events may only be published by the module they are named after; commands
    by any module (they are delivered to the module they are named after).
    """
    if message.kind == "event" and message.owning_module != source:
        raise MessageError(
            f"{message.message_type} may only be published by {message.owning_module}"
        )
    outbox = outbox_models().get(source)
    if outbox is None:
        raise MessageError(f"{source!r} has no outbox: it cannot publish")
    if not connections[source].in_atomic_block:
        raise PublishOutsideTransaction(
            f"publish({message.message_type}) needs an open transaction on {source!r}:"
            f" wrap the change in transaction.atomic(using={source!r})"
        )
    context = current_context()
    if not context.may_publish:
        raise MessageError(f"projection {context.subscriber} may not publish messages")
    envelope = Envelope(
        message_id=uuid.uuid4(),
        type=message.message_type,
        version=message.version,
        occurred_at=timezone.now(),
        aggregate_id=message.aggregate_id,
        correlation_id=context.correlation_id,
        causation_id=context.causation_id,
        source=source,
        payload_json=registry.encode(message),
    )
    outbox.objects.using(source).create(
        message_id=envelope.message_id,
        type=envelope.type,
        version=envelope.version,
        occurred_at=envelope.occurred_at,
        aggregate_id=envelope.aggregate_id,
        correlation_id=envelope.correlation_id,
        causation_id=envelope.causation_id,
        payload=json.loads(envelope.payload_json),
    )
    _kick_relay_after_commit(source)
    return envelope


def _kick_relay_after_commit(alias: str) -> None:
    # One kick per transaction, however many messages it publishes. Django drops
    # callbacks of rolled-back savepoints itself, so the scan stays accurate.
    pending = connections[alias].run_on_commit
    if not any(callback is _kick_relay for _, callback, _ in pending):
        transaction.on_commit(_kick_relay, using=alias)


def _kick_relay() -> None:
    # By task name: the public face does not import the platform's internals.
    from celery import current_app

    try:
        current_app.send_task("events.relay", queue="events", retry=False)
    except Exception as exc:  # noqa: BLE001 - the broker is down: the beat sweep catches up
        logger.warning("could not kick the relay (%s); the periodic sweep will catch up", exc)
