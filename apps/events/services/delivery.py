"""Delivery: the event store -> a subscriber's handlers, exactly once.

A subscriber's effects, the messages it publishes and its checkpoint commit in
one transaction of its own module's database, so redelivery changes nothing.

One delivery per subscriber at a time: a session advisory lock on the module's
connection (`subscriber_lock`), held by delivery, parked-message retry and
rewind alike. The checkpoint row itself is never held locked, so the progress
marker below can be committed on its own.

A message that fails is retried with backoff, then parked, and the subscriber
goes on. A message that kills the process (out of memory, a hard time limit)
is caught the same way: before a batch is applied, its first position is
committed as "in flight"; a delivery that finds a marker it did not clear
knows the last one died there, and goes one message at a time, counting an
attempt for each message before it runs it. A message that killed the process
EVENTS_MAX_ATTEMPTS times is parked without being run again.

A task's soft time limit (Celery's SoftTimeLimitExceeded, raised in whatever
the handler was doing) is a failure like any other: the transaction rolls back,
the lock is let go of, and the attempt counts. The task's time is up, though:
a batch cut short is not isolated in the same task but left to the next
delivery by its in-flight marker, and after a message is parked the task stops
(`out_of_time`) and another one goes on. The hard limit kills the process: the
in-flight marker catches it, as any death.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import connections, transaction
from django.utils import timezone

from apps.events.public.context import MessageContext, message_context
from apps.events.public.envelope import Envelope
from apps.events.public.publishing import publications_buffered, publications_flush
from apps.events.public.records import SubscriberCheckpoint, checkpoint_models, parked_models
from apps.events.public.subscriptions import Subscriber, subscribers
from apps.events.selectors import store_get, store_read_after
from apps.events.services._common import lock_key, setting, transaction_not_flushed

logger = logging.getLogger(__name__)


class HandlerSwallowedDatabaseError(Exception):
    """A handler caught a database error and went on: its effects were rolled back."""


@dataclass
class DeliveryReport:
    subscriber: str
    handled: int = 0
    parked: int = 0
    position: int = 0
    caught_up: bool = False
    busy: bool = False  # another delivery holds this subscriber
    waiting: bool = False  # a failing message waits for its next attempt
    outdated: bool = False  # newer code handles more types than this process knows
    out_of_time: bool = False  # the task's soft time limit ran out: another task goes on
    retry_in: float | None = None

    def add(self, other: DeliveryReport) -> None:
        self.handled += other.handled
        self.parked += other.parked
        self.position = other.position or self.position
        self.caught_up, self.busy = other.caught_up, other.busy
        self.waiting, self.outdated, self.retry_in = other.waiting, other.outdated, other.retry_in
        self.out_of_time = other.out_of_time

    @property
    def stopped(self) -> bool:
        return self.caught_up or self.busy or self.waiting or self.outdated or self.out_of_time


def backoff_seconds(attempts: int) -> float:
    base = setting("EVENTS_RETRY_BASE_SECONDS", 1.0)
    cap = setting("EVENTS_RETRY_MAX_SECONDS", 300.0)
    return min(base * 2 ** (attempts - 1), cap)


@contextlib.contextmanager
def subscriber_lock(subscriber: Subscriber, *, wait: bool) -> Iterator[bool]:
    """Hold the subscriber (session advisory lock); yields False if another holds it."""
    key = lock_key(f"subscriber.{subscriber.name}")
    with connections[subscriber.module].cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
            acquired = True
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connections[subscriber.module].cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


# Every delivery reads its checkpoint and writes it two or three times: in plain
# SQL, since building these queries with the ORM cost more CPU than the rest of
# a small batch's bookkeeping (docs/benchmarks.md).


def _checkpoint(subscriber: Subscriber) -> SubscriberCheckpoint:
    alias = subscriber.module
    model = checkpoint_models()[alias]
    values = _checkpoint_row(alias, model, subscriber.name)
    if values is None:  # the subscriber's first delivery
        model.objects.using(alias).bulk_create(
            [model(subscriber=subscriber.name)], ignore_conflicts=True
        )
        values = _checkpoint_row(alias, model, subscriber.name)
    return model.from_db(alias, _attnames(model), values)


def _checkpoint_row(
    alias: str, model: type[SubscriberCheckpoint], name: str
) -> tuple[Any, ...] | None:
    with connections[alias].cursor() as cursor:
        cursor.execute(_select_sql(alias, model), [name])
        return cursor.fetchone()


def _attnames(model: type[SubscriberCheckpoint]) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


@cache
def _select_sql(alias: str, model: type[SubscriberCheckpoint]) -> str:
    quote = connections[alias].ops.quote_name
    columns = ", ".join(quote(field.column) for field in model._meta.concrete_fields)
    return f"SELECT {columns} FROM {quote(model._meta.db_table)} WHERE subscriber = %s"  # noqa: S608


# The statement as its own transaction, committed without waiting for the disk
# (set_config(..., true) lasts until that transaction's end, past its commit).
_NO_WAIT = " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS no_wait"


@cache
def _update_sql(
    alias: str, model: type[SubscriberCheckpoint], names: tuple[str, ...], *, no_wait: bool
) -> str:
    quote, opts = connections[alias].ops.quote_name, model._meta
    assignments = ", ".join(f"{quote(opts.get_field(name).column)} = %s" for name in names)
    return (
        f"UPDATE {quote(opts.db_table)} SET {assignments},"  # noqa: S608
        f" {quote(opts.get_field('updated_at').column)} = now()"
        f"{_NO_WAIT if no_wait else ''} WHERE {quote(opts.pk.column)} = %s"
    )


def _write(
    checkpoint: SubscriberCheckpoint, alias: str, fields: dict[str, Any], *, no_wait: bool = False
) -> None:
    sql = _update_sql(alias, type(checkpoint), tuple(fields), no_wait=no_wait)
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [*fields.values(), checkpoint.pk])


def _mark_in_flight(checkpoint: SubscriberCheckpoint, alias: str, position: int) -> None:
    """Commit the marker before the batch runs, in one round trip.

    It need not wait for the disk: it matters once the worker died during the
    batch, and any later durable commit on the server flushes it (the batch's
    own, or the next one's). Lost it is only if the database server crashes
    too within a WAL writer's round (well under a second): then the batch is
    tried whole once more. Outside autocommit it is written plainly.
    """
    no_wait = connections[alias].get_autocommit()
    checkpoint.inflight_position = position
    _write(checkpoint, alias, {"inflight_position": position}, no_wait=no_wait)


def _save(checkpoint: SubscriberCheckpoint, alias: str, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(checkpoint, name, value)
    _write(checkpoint, alias, fields)


_CLEAR = {"failing_position": None, "attempts": 0, "next_attempt_at": None, "last_error": ""}


def _types_fingerprint(subscriber: Subscriber) -> str:
    types = subscriber.types()
    return "*" if types is None else ",".join(types)


def _is_outdated(stored: str, ours: str) -> bool:
    """True when the checkpoint was last moved by code that handles types we do not."""
    if not stored or stored == ours or ours == "*":
        return False
    if stored == "*":
        return True
    return not set(stored.split(",")) <= set(ours.split(","))


def run_handlers(subscriber: Subscriber, envelopes: Sequence[Envelope]) -> int:
    """Apply envelopes through the subscriber's handlers; return how many it handled.

    Runs in the caller's transaction; what the handlers publish is written with
    one INSERT at the end, still inside it.
    """
    alias = subscriber.module
    with publications_buffered(alias):
        handled = _dispatch(subscriber, envelopes)
    publications_flush(alias)
    return handled


def _dispatch(subscriber: Subscriber, envelopes: Sequence[Envelope]) -> int:
    connection = connections[subscriber.module]
    if subscriber.batch_handler is not None:
        wanted = [e for e in envelopes if subscriber.wants(e.type)]
        if wanted:
            with message_context(_context(subscriber, wanted[-1])):
                subscriber.batch_handler(wanted)
            _check_not_swallowed(connection, subscriber)
        return len(wanted)
    handled = 0
    index = 0
    while index < len(envelopes):
        envelope = envelopes[index]
        group_handler = subscriber.group_handlers.get(envelope.type)
        if group_handler is not None:
            run = [envelope]
            index += 1
            while (
                index < len(envelopes)
                and subscriber.group_handlers.get(envelopes[index].type) is group_handler
            ):
                run.append(envelopes[index])
                index += 1
            with message_context(_context(subscriber, run[-1])):
                group_handler(run)
            _check_not_swallowed(connection, subscriber)
            handled += len(run)
            continue
        index += 1
        handler = subscriber.handlers.get(envelope.type)
        if handler is None:
            continue
        message = envelope.message()
        with message_context(_context(subscriber, envelope)):
            handler(message, envelope)
        _check_not_swallowed(connection, subscriber)
        handled += 1
    return handled


def _context(subscriber: Subscriber, envelope: Envelope) -> MessageContext:
    return MessageContext(
        correlation_id=envelope.correlation_id,
        causation_id=envelope.message_id,
        subscriber=subscriber.name,
        may_publish=subscriber.publishes,
    )


def _check_not_swallowed(connection: Any, subscriber: Subscriber) -> None:
    if connection.needs_rollback:
        raise HandlerSwallowedDatabaseError(
            f"a handler of {subscriber.name} caught a database error and went on"
        )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SoftTimeLimitExceeded):
        return "SoftTimeLimitExceeded: the handler ran past the task's soft time limit"
    return f"{exc.__class__.__name__}: {exc}".replace("\x00", "")[:4000]


def _park(
    subscriber: Subscriber, checkpoint: SubscriberCheckpoint, envelope: Envelope, error: str
) -> None:
    alias = subscriber.module
    with transaction.atomic(using=alias):
        parked_models()[alias].objects.using(alias).create(
            subscriber=subscriber.name,
            position=envelope.position,
            message_id=envelope.message_id,
            type=envelope.type,
            attempts=checkpoint.attempts,
            error=error or checkpoint.last_error or "the process died while handling it",
        )
        _save(checkpoint, alias, position=envelope.position, inflight_position=None, **_CLEAR)
    logger.error("%s parked %s at %s: %s", subscriber.name, envelope.type, envelope.position, error)


def _apply_in_one_transaction(
    subscriber: Subscriber,
    checkpoint: SubscriberCheckpoint,
    envelopes: list[Envelope],
    *,
    seen_to: int | None,
) -> int:
    """Apply `envelopes` and move the checkpoint past them (to `seen_to`, as far
    as the read looked, if given), atomically."""
    alias = subscriber.module
    fields = {
        "position": max(envelopes[-1].position or 0, seen_to or 0),
        "inflight_position": None,
        "handled_types": _types_fingerprint(subscriber),
        **_CLEAR,
    }
    with transaction.atomic(using=alias):
        handled = run_handlers(subscriber, envelopes)
        _write(checkpoint, alias, fields)
    # Only once committed: a failed commit leaves the caller's copy as it was
    # (its attempt count goes on to the parking lot).
    for name, value in fields.items():
        setattr(checkpoint, name, value)
    return handled


def _deliver_one_by_one(
    subscriber: Subscriber, checkpoint: SubscriberCheckpoint, envelopes: list[Envelope]
) -> DeliveryReport:
    """Isolation: count an attempt for each message before running it."""
    alias = subscriber.module
    report = DeliveryReport(subscriber=subscriber.name, position=checkpoint.position)
    max_attempts = int(setting("EVENTS_MAX_ATTEMPTS", 5))
    for envelope in envelopes:
        same = checkpoint.failing_position == envelope.position
        if same and checkpoint.attempts >= max_attempts:
            _park(subscriber, checkpoint, envelope, checkpoint.last_error)
            report.parked += 1
            report.position = checkpoint.position
            continue
        attempts = checkpoint.attempts + 1 if same else 1
        _save(checkpoint, alias, failing_position=envelope.position, attempts=attempts)
        try:
            report.handled += _apply_in_one_transaction(
                subscriber, checkpoint, [envelope], seen_to=None
            )
        except Exception as exc:  # noqa: BLE001 - recorded, retried, then parked
            error = _describe(exc)
            logger.warning(
                "%s failed on %s at %s (attempt %s/%s): %s",
                subscriber.name, envelope.type, envelope.position, attempts, max_attempts, error,
            )  # fmt: skip
            if attempts >= max_attempts:
                _park(subscriber, checkpoint, envelope, error)
                report.parked += 1
                report.position = checkpoint.position
                if isinstance(exc, SoftTimeLimitExceeded):
                    report.out_of_time = True  # the hard limit is near: a new task goes on
                    return report
                continue
            delay = backoff_seconds(attempts)
            _save(
                checkpoint,
                alias,
                last_error=error,
                next_attempt_at=timezone.now() + timedelta(seconds=delay),
            )
            report.waiting, report.retry_in = True, delay
            return report
        checkpoint.refresh_from_db(using=alias)
        report.position = checkpoint.position
    _save(checkpoint, alias, inflight_position=None)
    return report


def _deliver_batch(subscriber: Subscriber, *, batch_size: int) -> DeliveryReport:
    """One batch, with the subscriber's lock held by the caller."""
    alias = subscriber.module
    checkpoint = _checkpoint(subscriber)
    report = DeliveryReport(subscriber=subscriber.name, position=checkpoint.position)
    if _is_outdated(checkpoint.handled_types, _types_fingerprint(subscriber)):
        logger.warning(
            "%s: newer code moved this checkpoint; leaving it to that code", subscriber.name
        )
        report.outdated = True
        return report
    now = timezone.now()
    if checkpoint.next_attempt_at is not None and checkpoint.next_attempt_at > now:
        report.waiting = True
        report.retry_in = (checkpoint.next_attempt_at - now).total_seconds()
        return report
    read = store_read_after(
        position=checkpoint.position,
        limit=batch_size,
        types=subscriber.types(),
        skip_unset=subscriber.skips_unset(),
    )
    envelopes = read.envelopes
    if not envelopes:
        if read.seen_to > checkpoint.position:
            with transaction_not_flushed(alias):
                _save(
                    checkpoint,
                    alias,
                    position=read.seen_to,
                    handled_types=_types_fingerprint(subscriber),
                )
        report.position = max(read.seen_to, checkpoint.position)
        report.caught_up = read.complete
        return report
    if checkpoint.inflight_position is not None or checkpoint.failing_position is not None:
        # The last attempt died or failed here: one message at a time.
        report = _deliver_one_by_one(subscriber, checkpoint, envelopes)
        report.caught_up = read.complete and not (report.waiting or report.out_of_time)
        return report
    # The common case: record the batch as in flight, then apply it whole.
    _mark_in_flight(checkpoint, alias, envelopes[0].position)
    try:
        report.handled = _apply_in_one_transaction(
            subscriber, checkpoint, envelopes, seen_to=read.seen_to
        )
    except SoftTimeLimitExceeded:
        # No time left to isolate the culprit here: the in-flight marker stays, so
        # the next delivery (another task) goes one message at a time.
        logger.warning("%s: the task's time ran out during a batch", subscriber.name)
        report.out_of_time = True
        return report
    except Exception:  # noqa: BLE001 - find the culprit one message at a time
        logger.info("%s: batch failed, isolating the failing message", subscriber.name)
        report = _deliver_one_by_one(subscriber, checkpoint, envelopes)
        report.caught_up = read.complete and not (report.waiting or report.out_of_time)
        return report
    report.position = max(envelopes[-1].position or 0, read.seen_to)
    report.caught_up = read.complete
    return report


def subscriber_deliver(
    *,
    name: str,
    batch_size: int | None = None,
    max_batches: int | None = None,
    wait: bool = False,
    look_again: bool = True,
    time_budget: float | None = None,
    progress: Callable[[DeliveryReport], None] | None = None,
) -> DeliveryReport:
    """Deliver the store to subscriber `name` from its checkpoint, batch by batch,
    until it is caught up, stuck on a failing message, or `max_batches` ran.

    After letting go of the subscriber it looks once more (`look_again`): a
    message whose kick found this delivery busy is delivered now, not at the
    next sweep. A delivery task does not: under steady load it would go on with
    batches of one; a task that finds the subscriber busy kicks another instead.

    `time_budget`: no batch starts after that many seconds (a task's budget, well
    inside its soft time limit, so a long catch-up goes on in the next task
    rather than being cut mid-batch).
    """
    deadline = None if time_budget is None else time.monotonic() + time_budget
    subscriber = subscribers.get(name)
    batch_size = batch_size or int(setting("EVENTS_DELIVERY_BATCH_SIZE", 500))
    total = DeliveryReport(subscriber=name)
    batches = 0
    budget_spent = False
    while True:
        with subscriber_lock(subscriber, wait=wait) as acquired:
            if not acquired:
                total.busy = True
                return total
            while max_batches is None or batches < max_batches:
                report = _deliver_batch(subscriber, batch_size=batch_size)
                batches += 1
                total.add(report)
                if progress is not None:
                    progress(report)
                if report.stopped:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    budget_spent = True
                    break
        out_of_batches = budget_spent or (max_batches is not None and batches >= max_batches)
        if (
            not look_again
            or not total.caught_up
            or out_of_batches
            or not _has_news(subscriber, total.position)
        ):
            return total


def _has_news(subscriber: Subscriber, position: int) -> bool:
    read = store_read_after(
        position=position, limit=1, types=subscriber.types(), skip_unset=subscriber.skips_unset()
    )
    return bool(read.envelopes) or not read.complete


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

    Holds the subscriber's lock meanwhile, so no delivery or rebuild interleaves.
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
            queryset = queryset.filter(pk__any=ids)
        for parked_id, name in list(queryset.values_list("pk", "subscriber")):
            owner = subscribers.get(name)
            with subscriber_lock(owner, wait=True), transaction.atomic(using=alias):
                parked = model.objects.using(alias).filter(pk=parked_id).first()
                if parked is None:
                    continue  # retried by someone else, or dropped by a rebuild
                envelope = store_get(position=parked.position)
                try:
                    if envelope is None:
                        raise LookupError(f"position {parked.position} is not in the store")
                    with transaction.atomic(using=alias):
                        run_handlers(owner, [envelope])
                except Exception as exc:  # noqa: BLE001 - stays parked, with the new error
                    parked.attempts += 1
                    parked.error = _describe(exc)
                    parked.save(using=alias, update_fields=["attempts", "error"])
                    report.failed += 1
                else:
                    parked.delete()
                    report.applied += 1
    return report
