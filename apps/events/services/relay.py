"""The relay: module outboxes -> the append-only event store.

It moves each outbox message into the store exactly once, in the order the
module published it, and may run any number of times at once.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.utils import timezone
from psycopg import sql
from psycopg.errors import UniqueViolation

from apps.events.public.messages import registry
from apps.events.public.records import outbox_models
from apps.events.public.subscriptions import subscribers
from apps.events.selectors import EVENTS_ALIAS
from apps.events.services._common import lock_key, setting

logger = logging.getLogger(__name__)

# The store has one writer at a time (its INSERT trigger takes this advisory
# lock, see store_sql.py), which is what lets a reader trust that no position
# below the head it has seen can still appear.
STORE_WRITER_LOCK = 0x0B0C_0001
_STORE_COLUMNS_FROM_OUTBOX = (
    "message_id, type, version, occurred_at, aggregate_id, correlation_id, causation_id, payload"
)
_STORE_COLUMNS = f"{_STORE_COLUMNS_FROM_OUTBOX}, source"


def outbox_relay(
    *,
    module: str,
    batch_size: int | None = None,
    time_budget: float | None = None,
    seen_types: set[str] | None = None,
) -> int:
    """Move `module`'s outbox into the event store, oldest first; return how many.

    Only one relay moves a given outbox at a time (a try-lock, taken per batch:
    a second relay just returns), so the module's order is kept. A crash after
    the store commit and before the outbox is cleared is harmless: the store
    ignores a message id it already holds, and the next run clears the outbox.

    When a run ends it looks once more from the start of the outbox: a message
    that committed during the run, with an id below where the run had got to,
    or whose kick found this relay busy, goes in this run rather than waiting
    for the sweep. It stops after `time_budget` seconds (EVENTS_RELAY_TIME_BUDGET).
    The types of the messages it moved are added to `seen_types`, if given, with
    `type?field` for each `only_if_set` field found set (`_kick_keys`).
    """
    budget = time_budget if time_budget is not None else setting("EVENTS_RELAY_TIME_BUDGET", 10)
    deadline = time.monotonic() + budget
    relayed = 0
    while True:
        relay_pass = outbox_relay_pass(
            module=module,
            batch_size=batch_size,
            time_budget=deadline - time.monotonic(),
            seen_types=seen_types,
        )
        relayed += relay_pass.moved
        if relay_pass.busy or time.monotonic() > deadline or not outbox_pending(module=module):
            return relayed


@dataclass(frozen=True)
class RelayPass:
    moved: int
    busy: bool  # another relay held the outbox: nothing was moved
    more: bool  # stopped at the time budget with more to move


def outbox_relay_pass(
    *,
    module: str,
    batch_size: int | None = None,
    time_budget: float | None = None,
    seen_types: set[str] | None = None,
) -> RelayPass:
    """One pass over `module`'s outbox from its start (what a relay task does).

    It moves everything committed before it began, unless another relay holds
    the outbox. It does not look again for what commits meanwhile: each of those
    commits kicks a relay of its own (apps/events/kicks.py), so a task under
    steady load does not spin on batches of one.
    """
    budget = time_budget if time_budget is not None else setting("EVENTS_RELAY_TIME_BUDGET", 10)
    outbox = outbox_models()[module]
    moved, busy, more = _relay_run(
        module=module,
        table=connections[module].ops.quote_name(outbox._meta.db_table),
        batch_size=batch_size or int(setting("EVENTS_RELAY_BATCH_SIZE", 1000)),
        seen_types=seen_types,
        deadline=time.monotonic() + budget,
    )
    return RelayPass(moved=moved, busy=busy, more=more)


def _relay_run(
    *,
    module: str,
    table: str,
    batch_size: int,
    seen_types: set[str] | None = None,
    deadline: float | None = None,
) -> tuple[int, bool, bool]:
    """One pass over the outbox by id: (messages moved, whether another relay held
    it, whether it stopped at `deadline` with more to move)."""
    relayed = 0
    # Within a run, read past what it already moved: the deleted rows at the
    # head of the outbox would otherwise be scanned again by every batch.
    after_id = 0
    while True:
        # Clearing the outbox need not wait for the disk: rows that come back
        # after a server crash are stored already, and the store skips them.
        own_transaction = not connections[module].in_atomic_block
        with transaction.atomic(using=module), connections[module].cursor() as cursor:
            # As SET LOCAL, and only in a transaction of its own (not a caller's).
            cursor.execute(
                "SELECT pg_try_advisory_xact_lock(%s), set_config('synchronous_commit',"
                " CASE WHEN %s THEN 'off' ELSE current_setting('synchronous_commit') END, true)",
                [lock_key(f"relay.{module}"), own_transaction],
            )
            if not cursor.fetchone()[0]:
                return relayed, True, False
            batch = _outbox_read(
                cursor, table=table, source=module, after_id=after_id, limit=batch_size
            )
            if not batch.ids:
                return relayed, False, False
            _store_append(batch)
            _outbox_clear(module=module, table=table, ids=batch.ids)
        # After the commit: nothing read for the kicks may undo a relayed batch.
        if seen_types is not None:
            seen_types.update(_kick_keys(batch.rows))
        relayed += len(batch.ids)
        after_id = batch.ids[-1]
        if len(batch.ids) < batch_size:
            return relayed, False, False
        if deadline is not None and time.monotonic() > deadline:
            return relayed, False, True


def _kick_keys(rows: list[bytes]) -> Iterator[str]:
    """What a batch holds for the kicks (`tasks.kick_deliveries`): each row's type
    and, for a type some subscriber reads only with a field set (`only_if_set`),
    `type?field` for each such field the row has set, as the store's query would
    judge it. Only those rows are parsed; a row it cannot judge counts as set."""
    watched = _watched_fields()
    for row in rows:
        columns = row.split(b"\t", 8)  # the store's columns, as COPY text
        message_type = columns[1].decode()
        yield message_type
        if message_type in watched:
            version, field_names = watched[message_type]
            for field_name in _fields_set(columns, version, field_names):
                yield f"{message_type}?{field_name}"


def _watched_fields() -> dict[str, tuple[int, frozenset[str]]]:
    """Per message type read with `only_if_set`: its current version, the fields."""
    fields: dict[str, set[str]] = {}
    for subscriber in subscribers.all():
        for message_type, field_name in subscriber.only_if_set.items():
            fields.setdefault(message_type, set()).add(field_name)
    return {
        message_type: (registry.class_for(message_type).version, frozenset(names))
        for message_type, names in fields.items()
    }


def _fields_set(columns: list[bytes], version: int, field_names: frozenset[str]) -> set[str]:
    try:
        if int(columns[2]) != version:
            return set(field_names)  # an older version: the store's filter lets it through
        payload = json.loads(_copy_text_value(columns[7]))
    except Exception:  # noqa: BLE001 - a row it cannot judge is rung for
        return set(field_names)
    if not isinstance(payload, dict):
        return set(field_names)
    return {name for name in field_names if payload.get(name) not in (None, "")}


# COPY's text format escapes a backslash and the control characters; a jsonb
# value as text holds no raw control character, but a backslash it may.
_COPY_ESCAPES = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


def _copy_text_value(raw: bytes) -> bytes:
    if b"\\" not in raw:
        return raw
    return re.sub(rb"\\(.)", lambda m: _COPY_ESCAPES.get(m.group(1), m.group(1)), raw, flags=re.S)


def outbox_pending(*, module: str) -> bool:
    """Whether `module`'s outbox holds a message not yet relayed."""
    outbox = outbox_models()[module]
    return outbox._default_manager.using(module).filter(relayed_at__isnull=True).exists()


@dataclass(frozen=True)
class OutboxBatch:
    """Outbox rows in the store's COPY text format, and their outbox ids."""

    ids: list[int]
    rows: list[bytes]


def _outbox_read(cursor: Any, *, table: str, source: str, after_id: int, limit: int) -> OutboxBatch:
    # COPY text out and straight in again: no field is parsed in Python, which
    # is what makes the relay fast (docs/benchmarks.md); only the payloads of
    # types read with `only_if_set` are looked into, for the kicks (`_kick_keys`).
    query = sql.SQL(
        "COPY (SELECT id, {columns}, {source} FROM {table}"
        " WHERE relayed_at IS NULL AND id > {after_id} ORDER BY id LIMIT {limit}) TO STDOUT"
    ).format(
        after_id=sql.Literal(after_id),
        columns=sql.SQL(_STORE_COLUMNS_FROM_OUTBOX),
        source=sql.Literal(source),
        table=sql.SQL(table),
        limit=sql.Literal(limit),
    )
    ids: list[int] = []
    rows: list[bytes] = []
    with cursor.cursor.copy(query) as copy:  # the driver's cursor: COPY with a composed query
        data = b"".join(bytes(chunk) for chunk in copy)
    for line in data.splitlines(keepends=True):
        outbox_id, row = line.split(b"\t", 1)
        ids.append(int(outbox_id))
        rows.append(row)
    return OutboxBatch(ids=ids, rows=rows)


def _store_append(batch: OutboxBatch) -> None:
    """Append a batch to the store in its order; message ids already stored are skipped.

    The fast path COPYs the batch straight in. A message already in the store
    (a relay crashed after the store commit) fails it; the batch is then
    copied row by row, skipping the ones the store holds. That happens at most
    once per crash.
    """
    copy_in = f"COPY stored_event ({_STORE_COLUMNS}) FROM STDIN"
    # The store's INSERT trigger takes STORE_WRITER_LOCK until this commits.
    with connections[EVENTS_ALIAS].cursor() as cursor:
        try:
            with transaction.atomic(using=EVENTS_ALIAS), cursor.copy(copy_in) as copy:
                copy.write(b"".join(batch.rows))
        except (IntegrityError, UniqueViolation):
            logger.info("relay: part of a batch of %s is stored already", len(batch.rows))
        else:
            return
        for row in batch.rows:
            try:
                with transaction.atomic(using=EVENTS_ALIAS), cursor.copy(copy_in) as copy:
                    copy.write(row)
            except (IntegrityError, UniqueViolation):
                continue  # stored by the relay run that crashed


def _outbox_clear(*, module: str, table: str, ids: list[int]) -> None:
    retention = setting("EVENTS_OUTBOX_RETENTION_SECONDS", 0)
    with connections[module].cursor() as cursor:
        if retention > 0:
            cursor.execute(
                f"UPDATE {table} SET relayed_at = now() WHERE id = ANY(%s)",  # noqa: S608
                [ids],
            )
        else:
            cursor.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", [ids])  # noqa: S608


def outboxes_relay_all(*, seen_types: set[str] | None = None) -> int:
    return sum(
        outbox_relay(module=module, seen_types=seen_types) for module in sorted(outbox_models())
    )


def outbox_retention_sweep(*, module: str | None = None) -> int:
    """Delete relayed outbox rows older than the retention window (one module's, or all)."""
    retention = setting("EVENTS_OUTBOX_RETENTION_SECONDS", 0)
    cutoff = timezone.now() - timedelta(seconds=retention)
    deleted = 0
    for name, outbox in outbox_models().items():
        if module is None or name == module:
            deleted += outbox._default_manager.using(name).filter(relayed_at__lt=cutoff).delete()[0]
    return deleted
