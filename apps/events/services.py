"""Commands of the event platform: relay, delivery, parking, retry and replay.

Guarantees (docs/events.md):
- the relay moves each outbox message into the store exactly once, in the
  order the module published it, and may run any number of times at once;
- a subscriber's effects, the messages it publishes and its checkpoint commit
  in one transaction of its own module's database (exactly-once effect);
- a message that keeps failing is retried with backoff, then parked, and the
  subscriber goes on.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.utils import timezone
from psycopg import sql
from psycopg.errors import UniqueViolation

from apps.events.models import MessageTypeStats
from apps.events.public.context import MessageContext, message_context
from apps.events.public.envelope import Envelope
from apps.events.public.records import (
    SubscriberCheckpoint,
    checkpoint_models,
    outbox_models,
    parked_models,
)
from apps.events.public.subscriptions import Subscriber, subscribers
from apps.events.selectors import EVENTS_ALIAS, store_get, store_read_after

logger = logging.getLogger(__name__)

# The store has one writer at a time (its INSERT trigger takes this advisory
# lock, see store_sql.py), which is what lets a reader trust that no position
# below the head it has seen can still appear.
STORE_WRITER_LOCK = 0x0B0C_0001
_STORE_COLUMNS_FROM_OUTBOX = (
    "message_id, type, version, occurred_at, aggregate_id, correlation_id, causation_id, payload"
)
_STORE_COLUMNS = f"{_STORE_COLUMNS_FROM_OUTBOX}, source"


def _setting(name: str, default: float) -> float:
    return getattr(settings, name, default)


def _lock_key(name: str) -> int:
    return zlib.crc32(f"boxoffice.events.{name}".encode())


# --- Relay -------------------------------------------------------------------


def outbox_relay(*, module: str, batch_size: int | None = None) -> int:
    """Move `module`'s outbox into the event store, oldest first; return how many.

    Only one relay moves a given outbox at a time (a try-lock: a second one just
    returns), so the module's order is kept. A crash after the store commit and
    before the outbox is cleared is harmless: the store ignores a message id it
    already holds, and the next run clears the outbox.
    """
    batch_size = batch_size or int(_setting("EVENTS_RELAY_BATCH_SIZE", 1000))
    outbox = outbox_models()[module]
    table = connections[module].ops.quote_name(outbox._meta.db_table)
    relayed = 0
    # Within one run, read past what it already moved: the deleted rows at the
    # head of the outbox would otherwise be scanned again by every batch. A row
    # with a smaller id that commits late is picked up by the next run.
    after_id = 0
    while True:
        with transaction.atomic(using=module), connections[module].cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_lock_key(f"relay.{module}")])
            if not cursor.fetchone()[0]:
                return relayed
            batch = _outbox_read(
                cursor, table=table, source=module, after_id=after_id, limit=batch_size
            )
            if not batch.ids:
                return relayed
            _store_append(batch)
            _outbox_clear(module=module, table=table, ids=batch.ids)
        relayed += len(batch.ids)
        after_id = batch.ids[-1]
        if len(batch.ids) < batch_size:
            return relayed


@dataclass(frozen=True)
class OutboxBatch:
    """Outbox rows in the store's COPY text format, and their outbox ids."""

    ids: list[int]
    rows: list[bytes]


def _outbox_read(cursor: Any, *, table: str, source: str, after_id: int, limit: int) -> OutboxBatch:
    # COPY text out and straight in again: no field is parsed in Python, which
    # is what makes the relay fast (docs/benchmarks.md).
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
    with transaction.atomic(using=EVENTS_ALIAS), connections[EVENTS_ALIAS].cursor() as cursor:
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
    retention = _setting("EVENTS_OUTBOX_RETENTION_SECONDS", 0)
    with connections[module].cursor() as cursor:
        if retention > 0:
            cursor.execute(
                f"UPDATE {table} SET relayed_at = now() WHERE id = ANY(%s)",  # noqa: S608
                [ids],
            )
        else:
            cursor.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", [ids])  # noqa: S608


def outboxes_relay_all() -> int:
    return sum(outbox_relay(module=module) for module in sorted(outbox_models()))


def outbox_retention_sweep() -> int:
    """Delete relayed outbox rows older than the retention window."""
    retention = _setting("EVENTS_OUTBOX_RETENTION_SECONDS", 0)
    cutoff = timezone.now() - timedelta(seconds=retention)
    deleted = 0
    for module, outbox in outbox_models().items():
        deleted += outbox.objects.using(module).filter(relayed_at__lt=cutoff).delete()[0]
    return deleted


# --- Delivery ----------------------------------------------------------------


@dataclass
class DeliveryReport:
    subscriber: str
    handled: int = 0
    parked: int = 0
    position: int = 0
    caught_up: bool = False
    busy: bool = False  # another delivery holds this subscriber
    waiting: bool = False  # a failing message waits for its next attempt
    retry_in: float | None = None


def _backoff_seconds(attempts: int) -> float:
    base = _setting("EVENTS_RETRY_BASE_SECONDS", 1.0)
    cap = _setting("EVENTS_RETRY_MAX_SECONDS", 300.0)
    return min(base * 2 ** (attempts - 1), cap)


def _lock_checkpoint(subscriber: Subscriber, *, wait: bool) -> SubscriberCheckpoint | None:
    model = checkpoint_models()[subscriber.module]
    manager = model.objects.using(subscriber.module)
    manager.bulk_create([model(subscriber=subscriber.name)], ignore_conflicts=True)
    locked = manager.select_for_update(skip_locked=not wait)
    return locked.filter(subscriber=subscriber.name).first()


def run_handlers(subscriber: Subscriber, envelopes: Sequence[Envelope]) -> int:
    """Apply envelopes through the subscriber's handlers; return how many it handled."""
    if subscriber.batch_handler is not None:
        wanted = [e for e in envelopes if subscriber.wants(e.type)]
        if wanted:
            context = MessageContext(
                correlation_id=wanted[-1].correlation_id,
                causation_id=wanted[-1].message_id,
                subscriber=subscriber.name,
                may_publish=subscriber.publishes,
            )
            with message_context(context):
                subscriber.batch_handler(wanted)
        return len(wanted)
    handled = 0
    for envelope in envelopes:
        handler = subscriber.handlers.get(envelope.type)
        if handler is None:
            continue
        message = envelope.message()
        context = MessageContext(
            correlation_id=envelope.correlation_id,
            causation_id=envelope.message_id,
            subscriber=subscriber.name,
            may_publish=subscriber.publishes,
        )
        with message_context(context):
            handler(message, envelope)
        handled += 1
    return handled


def _describe(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}"[:4000]


def _apply_batch(
    subscriber: Subscriber, checkpoint: SubscriberCheckpoint, envelopes: list[Envelope]
) -> DeliveryReport:
    """Apply a batch inside the checkpoint's transaction, isolating a failing message."""
    alias = subscriber.module
    report = DeliveryReport(subscriber=subscriber.name)
    try:  # the common case: the whole batch in one savepoint
        with transaction.atomic(using=alias):
            report.handled = run_handlers(subscriber, envelopes)
    except Exception:  # noqa: BLE001 - find the culprit one message at a time
        logger.info("%s: batch failed, isolating the failing message", subscriber.name)
    else:
        _advance(checkpoint, envelopes[-1].position)
        return report
    report.handled = 0
    for envelope in envelopes:
        try:
            with transaction.atomic(using=alias):
                report.handled += run_handlers(subscriber, [envelope])
        except Exception as exc:  # noqa: BLE001 - recorded, retried, then parked
            if not _record_failure(subscriber, checkpoint, envelope, exc, report):
                return report
        else:
            _advance(checkpoint, envelope.position)
    return report


def _advance(checkpoint: SubscriberCheckpoint, position: int | None) -> None:
    assert position is not None
    checkpoint.position = max(checkpoint.position, position)
    checkpoint.failing_position = None
    checkpoint.attempts = 0
    checkpoint.next_attempt_at = None
    checkpoint.last_error = ""


def _record_failure(
    subscriber: Subscriber,
    checkpoint: SubscriberCheckpoint,
    envelope: Envelope,
    exc: Exception,
    report: DeliveryReport,
) -> bool:
    """Count a failed attempt; park the message when attempts run out.

    Returns True when the message was parked (delivery may go on).
    """
    same = checkpoint.failing_position == envelope.position
    attempts = checkpoint.attempts + 1 if same else 1
    max_attempts = int(_setting("EVENTS_MAX_ATTEMPTS", 5))
    logger.warning(
        "%s failed on %s at %s (attempt %s/%s): %s",
        subscriber.name,
        envelope.type,
        envelope.position,
        attempts,
        max_attempts,
        exc,
    )
    if attempts >= max_attempts:
        parked_models()[subscriber.module].objects.using(subscriber.module).create(
            subscriber=subscriber.name,
            position=envelope.position,
            message_id=envelope.message_id,
            type=envelope.type,
            attempts=attempts,
            error=_describe(exc),
        )
        report.parked += 1
        _advance(checkpoint, envelope.position)
        return True
    delay = _backoff_seconds(attempts)
    checkpoint.failing_position = envelope.position
    checkpoint.attempts = attempts
    checkpoint.last_error = _describe(exc)
    checkpoint.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    report.waiting = True
    report.retry_in = delay
    return False


def _deliver_batch(subscriber: Subscriber, *, batch_size: int, wait: bool) -> DeliveryReport:
    alias = subscriber.module
    with transaction.atomic(using=alias):
        checkpoint = _lock_checkpoint(subscriber, wait=wait)
        if checkpoint is None:
            return DeliveryReport(subscriber=subscriber.name, busy=True)
        now = timezone.now()
        if checkpoint.next_attempt_at is not None and checkpoint.next_attempt_at > now:
            return DeliveryReport(
                subscriber=subscriber.name,
                position=checkpoint.position,
                waiting=True,
                retry_in=(checkpoint.next_attempt_at - now).total_seconds(),
            )
        envelopes, head = store_read_after(
            position=checkpoint.position, limit=batch_size, types=subscriber.types()
        )
        if envelopes:
            report = _apply_batch(subscriber, checkpoint, envelopes)
        else:
            report = DeliveryReport(subscriber=subscriber.name)
        if not report.waiting and len(envelopes) < batch_size:
            # Nothing it wants lies between here and the head (same snapshot).
            checkpoint.position = max(checkpoint.position, head)
            report.caught_up = True
        checkpoint.save(using=alias)
        report.position = checkpoint.position
        return report


def subscriber_deliver(
    *,
    name: str,
    batch_size: int | None = None,
    max_batches: int | None = None,
    wait: bool = False,
    progress: Callable[[DeliveryReport], None] | None = None,
) -> DeliveryReport:
    """Deliver the store to subscriber `name` from its checkpoint, batch by batch,
    until it is caught up, stuck on a failing message, or `max_batches` ran."""
    subscriber = subscribers.get(name)
    batch_size = batch_size or int(_setting("EVENTS_DELIVERY_BATCH_SIZE", 500))
    total = DeliveryReport(subscriber=name)
    batches = 0
    while max_batches is None or batches < max_batches:
        report = _deliver_batch(subscriber, batch_size=batch_size, wait=wait)
        batches += 1
        total.handled += report.handled
        total.parked += report.parked
        total.position = report.position or total.position
        if progress is not None:
            progress(report)
        if report.busy or report.waiting or report.caught_up:
            total.busy, total.waiting, total.caught_up = (
                report.busy,
                report.waiting,
                report.caught_up,
            )
            total.retry_in = report.retry_in
            break
    return total


def subscribers_deliver_all() -> list[DeliveryReport]:
    return [subscriber_deliver(name=s.name) for s in subscribers.all()]


# --- Parked messages ---------------------------------------------------------


@dataclass
class RetryReport:
    applied: int = 0
    failed: int = 0


def parked_retry(
    *,
    module: str | None = None,
    subscriber: str | None = None,
    ids: Sequence[int] | None = None,
) -> RetryReport:
    """Apply parked messages again; each one that succeeds leaves the parking lot
    in the same transaction as its effects (so it is never applied twice).

    `ids` are row ids of one module's parked table, so they go with `module`.
    """
    if ids is not None and module is None:
        raise ValueError("parked ids are per module: say which module")
    report = RetryReport()
    for alias, model in sorted(parked_models().items()):
        if module is not None and alias != module:
            continue
        queryset = model.objects.using(alias).order_by("subscriber", "position")
        if subscriber is not None:
            queryset = queryset.filter(subscriber=subscriber)
        if ids is not None:
            queryset = queryset.filter(pk__in=ids)
        for parked_id in list(queryset.values_list("pk", flat=True)):
            with transaction.atomic(using=alias):
                parked = (
                    model.objects.using(alias)
                    .select_for_update(skip_locked=True)
                    .filter(pk=parked_id)
                    .first()
                )
                if parked is None:
                    continue  # retried by someone else just now
                envelope = store_get(position=parked.position)
                try:
                    if envelope is None:
                        raise LookupError(f"position {parked.position} is not in the store")
                    with transaction.atomic(using=alias):
                        run_handlers(subscribers.get(parked.subscriber), [envelope])
                except Exception as exc:  # noqa: BLE001 - stays parked, with the new error
                    parked.attempts += 1
                    parked.error = _describe(exc)
                    parked.save(using=alias, update_fields=["attempts", "error"])
                    report.failed += 1
                else:
                    parked.delete()
                    report.applied += 1
    return report


# --- Replay ------------------------------------------------------------------


class ReplayRefused(Exception):
    """Replaying this subscriber would send its messages again."""


def subscriber_rewind(*, name: str, from_position: int = 1, rebuild: bool) -> Subscriber:
    """Move a projection's checkpoint back so that delivery re-reads from `from_position`.

    With `rebuild`, its read model is reset first, in the same transaction.
    A subscriber that publishes is refused: replay must never re-send a command.
    """
    subscriber = subscribers.get(name)
    if subscriber.publishes:
        raise ReplayRefused(
            f"{name} publishes messages (it is a saga step or reaction), so replaying it would"
            " send them again; only projections can be replayed"
        )
    with transaction.atomic(using=subscriber.module):
        checkpoint = _lock_checkpoint(subscriber, wait=True)
        assert checkpoint is not None
        if rebuild and subscriber.reset is not None:
            subscriber.reset()
        _advance(checkpoint, 0)
        checkpoint.position = max(from_position - 1, 0)
        checkpoint.save(using=subscriber.module)
        parked_models()[subscriber.module].objects.using(subscriber.module).filter(
            subscriber=name, position__gte=from_position
        ).delete()
    return subscriber


# --- The type-statistics projection -------------------------------------------


def message_type_stats_reset() -> None:
    MessageTypeStats.objects.using(EVENTS_ALIAS).all().delete()


def message_type_stats_apply(*, envelopes: Sequence[Envelope]) -> None:
    """Count a batch of messages per type, in one statement."""
    counts: dict[str, list] = {}
    for envelope in envelopes:
        entry = counts.setdefault(envelope.type, [0, 0, None])
        entry[0] += 1
        entry[1] = envelope.position
        entry[2] = envelope.occurred_at
    table = connections[EVENTS_ALIAS].ops.quote_name(MessageTypeStats._meta.db_table)
    with connections[EVENTS_ALIAS].cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (type, count, last_position, last_occurred_at)
            SELECT * FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::timestamptz[])
            ON CONFLICT (type) DO UPDATE SET
                count = {table}.count + EXCLUDED.count,
                last_position = greatest({table}.last_position, EXCLUDED.last_position),
                last_occurred_at = EXCLUDED.last_occurred_at
            """,  # noqa: S608 - quoted identifier
            [list(counts), *(list(column) for column in zip(*counts.values(), strict=True))],
        )
