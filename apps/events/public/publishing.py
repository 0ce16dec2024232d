"""`publish()`: the only way a module sends a message (guarantee 1, atomic publish).

The message is written to the publishing module's own outbox, on that module's
database alias, inside the transaction that is already open there. It commits
with the change that caused it or not at all. After the commit, the relay is
kicked; if the broker is down the kick is lost, and the periodic sweep relays
the message instead.

While a subscriber's batch is applied, its module's publications are buffered
and written with one INSERT before the batch commits (`publications_buffered`).
Each buffered row rides on the connection's on-commit list, which Django trims
when a savepoint rolls back, so a message published in a rolled-back savepoint
is dropped exactly as its INSERT would have been.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import connections, transaction
from django.utils import timezone

from apps.events.public.context import MessageContext, current_context
from apps.events.public.envelope import Envelope
from apps.events.public.messages import Message, MessageError, registry
from apps.events.public.records import outbox_models

logger = logging.getLogger(__name__)


class PublishOutsideTransaction(MessageError):
    """publish() was called with no transaction open on the publishing module's alias."""


_buffering: ContextVar[frozenset[str]] = ContextVar(
    "boxoffice_outbox_buffering", default=frozenset()
)


def publish(message: Message, *, source: str, context: MessageContext | None = None) -> Envelope:
    """Write `message` to `source`'s outbox in the open transaction on `source`'s alias.

    Events may only be published by the module they are named after; commands
    by any module (they are delivered to the module they are named after).
    `context` (correlation and cause) defaults to the one in force; a group
    handler answering several messages passes `replying_to(envelope)` for each.
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
    context = context or current_context()
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
    row = outbox(
        message_id=envelope.message_id,
        type=envelope.type,
        version=envelope.version,
        occurred_at=envelope.occurred_at,
        aggregate_id=envelope.aggregate_id,
        correlation_id=envelope.correlation_id,
        causation_id=envelope.causation_id,
        payload=json.loads(envelope.payload_json),
    )
    if source in _buffering.get():
        transaction.on_commit(_BufferedRow(row), using=source)
    else:
        row.save(using=source, force_insert=True)
    _kick_relay_after_commit(source)
    return envelope


class _BufferedRow:
    """An outbox row waiting for `publications_flush`, kept on the on-commit list."""

    def __init__(self, row: object) -> None:
        self.row = row

    def __call__(self) -> None:
        # Runs only if a transaction committed without flushing: a bug, said loudly.
        logger.error("a buffered outbox row was never written: %r", self.row)


@contextmanager
def publications_buffered(alias: str) -> Iterator[None]:
    """Buffer `alias`'s publications until `publications_flush(alias)` (delivery uses it)."""
    token = _buffering.set(_buffering.get() | {alias})
    try:
        yield
    finally:
        _buffering.reset(token)


def publications_flush(alias: str) -> int:
    """Write the buffered publications still live (in publishing order) with one INSERT."""
    connection = connections[alias]
    live = [entry for entry in connection.run_on_commit if isinstance(entry[1], _BufferedRow)]
    if not live:
        return 0
    connection.run_on_commit = [
        entry for entry in connection.run_on_commit if not isinstance(entry[1], _BufferedRow)
    ]
    outbox_models()[alias].objects.using(alias).bulk_create([entry[1].row for entry in live])
    return len(live)


def _kick_relay_after_commit(alias: str) -> None:
    # One kick per transaction, however many messages it publishes. Django drops
    # callbacks of rolled-back savepoints itself, so the scan stays accurate.
    pending = connections[alias].run_on_commit
    if not any(isinstance(callback, _RelayKick) for _, callback, _ in pending):
        transaction.on_commit(_RelayKick(alias), using=alias)


class _RelayKick:
    """After the commit: have `module`'s outbox relayed."""

    def __init__(self, module: str) -> None:
        self.module = module

    def __call__(self) -> None:
        # Coalesced (apps/events/kicks.py); never raises: the beat sweep catches up.
        from apps.events import kicks

        kicks.ring_relay(self.module)
