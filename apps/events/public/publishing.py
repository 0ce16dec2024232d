"""`publish()`: the only way a module sends a message (guarantee 1, atomic publish).

The message is written to the publishing module's own outbox, on that module's
database alias, inside the transaction that is already open there. It commits
with the change that caused it or not at all. After the commit, the relay is
kicked; if the broker is down the kick is lost, and the periodic sweep relays
the message instead.

While a subscriber's batch is applied, its module's publications are buffered
and written with one COPY before the batch commits (`publications_buffered`).
Each buffered row rides on the connection's on-commit list, which Django trims
when a savepoint rolls back, so a message published in a rolled-back savepoint
is dropped exactly as its INSERT would have been.

A hot path that writes its change as one SQL statement publishes with
`publishing_in_statement`: the outbox INSERT becomes part of that statement.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from types import MappingProxyType
from typing import Any

from django.db import connections

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
    envelope = _envelope(message, source=source, context=context)
    connection = connections[source]  # a lookup through asgiref's Local: once
    if not connection.in_atomic_block:
        raise PublishOutsideTransaction(
            f"publish({message.message_type}) needs an open transaction on {source!r}:"
            f" wrap the change in transaction.atomic(using={source!r})"
        )
    if source in _buffering.get():
        connection.on_commit(_BufferedRow(envelope))  # kicked by the flush
    else:
        insert = _outbox_insert(envelope)
        with connection.cursor() as cursor:
            cursor.execute(insert.sql, insert.params)
        _kick_relay_after_commit(source)
    return envelope


@dataclass(frozen=True)
class OutboxInsert:
    """The INSERT of one outbox row: SQL with %s placeholders, and their values."""

    sql: str
    params: tuple[Any, ...]
    envelope: Envelope


@contextmanager
def publishing_in_statement(
    message: Message, *, source: str, context: MessageContext | None = None
) -> Iterator[OutboxInsert]:
    """publish() for a change written as one SQL statement (hot paths).

    Yields the outbox INSERT; the caller runs it as a data-modifying CTE of the
    statement that makes the change, so both commit together or not at all,
    in autocommit as well as inside a transaction. When the block ends without
    an error the relay is kicked, after the commit.

        with publishing_in_statement(message, source="orders") as outbox:
            cursor.execute(f"WITH placed AS (INSERT ...) {outbox.sql}", [..., *outbox.params])
    """
    if source in _buffering.get():
        raise MessageError("a subscriber's publications are buffered: use publish()")
    yield _outbox_insert(_envelope(message, source=source, context=context))
    _kick_relay_after_commit(source)


def _envelope(message: Message, *, source: str, context: MessageContext | None) -> Envelope:
    if message.kind == "event" and message.owning_module != source:
        raise MessageError(
            f"{message.message_type} may only be published by {message.owning_module}"
        )
    if source not in outbox_models():
        raise MessageError(f"{source!r} has no outbox: it cannot publish")
    context = context or current_context()
    if not context.may_publish:
        raise MessageError(f"projection {context.subscriber} may not publish messages")
    return Envelope(
        message_id=uuid.uuid4(),
        type=message.message_type,
        version=message.version,
        occurred_at=datetime.now(UTC),  # aware whatever USE_TZ says
        aggregate_id=message.aggregate_id,
        correlation_id=context.correlation_id,
        causation_id=context.causation_id,
        source=source,
        payload_json=registry.encode(message),
    )


# The outbox's columns, in the order rows are written (by INSERT and by COPY).
_OUTBOX_COLUMNS = (
    "message_id", "type", "version", "occurred_at", "aggregate_id", "correlation_id",
    "causation_id", "payload",
)  # fmt: skip


@cache
def _outbox_table(source: str) -> str:
    return connections[source].ops.quote_name(outbox_models()[source]._meta.db_table)


def _outbox_values(envelope: Envelope) -> tuple[Any, ...]:
    return (
        envelope.message_id, envelope.type, envelope.version, envelope.occurred_at,
        envelope.aggregate_id, envelope.correlation_id, envelope.causation_id,
        envelope.payload_json,
    )  # fmt: skip


def _outbox_insert(envelope: Envelope) -> OutboxInsert:
    # Raw SQL rather than the ORM: this is on every command's path, and the ORM's
    # INSERT asks for the new id back, which nobody needs.
    return OutboxInsert(
        sql=f"INSERT INTO {_outbox_table(envelope.source)} ({', '.join(_OUTBOX_COLUMNS)})"  # noqa: S608
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb)",
        params=_outbox_values(envelope),
        envelope=envelope,
    )


class _BufferedRow:
    """An outbox row waiting for `publications_flush`, kept on the on-commit list."""

    def __init__(self, envelope: Envelope) -> None:
        self.envelope = envelope

    def __call__(self) -> None:
        # Runs only if a transaction committed without flushing: a bug, said loudly.
        logger.error("a buffered outbox row was never written: %r", self.envelope)


@contextmanager
def publications_buffered(alias: str) -> Iterator[None]:
    """Buffer `alias`'s publications until `publications_flush(alias)` (delivery uses it)."""
    token = _buffering.set(_buffering.get() | {alias})
    try:
        yield
    finally:
        _buffering.reset(token)


def publications_flush(alias: str) -> int:
    """Write the buffered publications still live (in publishing order) with one COPY."""
    connection = connections[alias]
    live = [
        callback
        for _, callback, *_ in connection.run_on_commit
        if isinstance(callback, _BufferedRow)
    ]
    if not live:
        return 0
    connection.run_on_commit = [
        entry for entry in connection.run_on_commit if not isinstance(entry[1], _BufferedRow)
    ]
    copy_in = f"COPY {_outbox_table(alias)} ({', '.join(_OUTBOX_COLUMNS)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.copy(copy_in) as copy:
        for buffered in live:
            copy.write_row(_outbox_values(buffered.envelope))
    _kick_relay_after_commit(alias)
    return len(live)


@dataclass
class CallerRelay:
    """What `relayed_by_caller` owes: `owed` once a commit in the block published."""

    owed: bool = False


_relayed_by_caller: ContextVar[Mapping[str, CallerRelay]] = ContextVar(
    "boxoffice_outbox_relayed_by_caller", default=MappingProxyType({})
)


@contextmanager
def relayed_by_caller(alias: str) -> Iterator[CallerRelay]:
    """Within this block `alias`'s commits ring no relay: the caller (a delivery
    task of that module) relays the outbox itself right after, in the same process,
    if the yielded `CallerRelay.owed` says something was published. Should the
    process die first, the beat sweep relays it."""
    relay = CallerRelay()
    token = _relayed_by_caller.set({**_relayed_by_caller.get(), alias: relay})
    try:
        yield relay
    finally:
        _relayed_by_caller.reset(token)


def _kick_relay_after_commit(alias: str) -> None:
    # One kick per transaction, however many messages it publishes. Django drops
    # callbacks of rolled-back savepoints itself, so the scan stays accurate.
    caller = _relayed_by_caller.get().get(alias)
    if caller is not None:
        caller.owed = True  # perhaps rolled back later: then the relay finds nothing
        return
    connection = connections[alias]
    if not connection.in_atomic_block and connection.get_autocommit():
        # Not in a transaction: the statement has committed. Ring now, as
        # on_commit would, without its second connection lookup or the scan.
        _RelayKick(alias)()
    elif not any(isinstance(callback, _RelayKick) for _, callback, *_ in connection.run_on_commit):
        connection.on_commit(_RelayKick(alias))


class _RelayKick:
    """After the commit: have `module`'s outbox relayed."""

    def __init__(self, module: str) -> None:
        self.module = module

    def __call__(self) -> None:
        # Coalesced (apps/events/kicks.py); never raises: the beat sweep catches up.
        from apps.events import kicks

        kicks.ring_relay_soon(self.module)
