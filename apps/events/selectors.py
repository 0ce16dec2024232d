"""Queries over the event store, the outboxes and the subscribers' checkpoints."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db import connections
from django.db.models import Count
from django.utils import timezone

from apps.events.public.envelope import Envelope
from apps.events.public.records import checkpoint_models, outbox_models, parked_models
from apps.events.public.subscriptions import Subscriber, subscribers

EVENTS_ALIAS = "events"
# Times and payloads come as text: parsing them in Python is cheaper than
# Django's adapters, and a payload is parsed only when a handler needs it.
_COLUMNS = (
    "position, message_id, type, version, source, occurred_at::text, aggregate_id,"
    " correlation_id, causation_id, payload::text"
)


def _envelope(row: tuple) -> Envelope:
    position, message_id, type_, version, source, occurred_at, aggregate, corr, cause, payload = row
    return Envelope(
        message_id=message_id,
        type=type_,
        version=version,
        occurred_at=datetime.fromisoformat(occurred_at),
        aggregate_id=aggregate,
        correlation_id=corr,
        causation_id=cause,
        source=source,
        payload_json=payload,
        position=position,
    )


# A read looks at most this far past where it starts: a few batches' worth of
# positions, never fewer than STORE_READ_WINDOW_MIN. Until the store is first
# analyzed (a new deployment, a benchmark: for the first minute or so) the
# planner takes any range of it for a handful of rows, so an open range made each
# read fetch every later message of the wanted types, turn each payload into
# text and sort them all, for one batch: a catch-up cost the square of its length.
# Bounded, each read costs at most a window's worth (docs/events.md, Gotchas).
STORE_READ_WINDOW_BATCHES = 8
STORE_READ_WINDOW_MIN = 10_000


@dataclass(frozen=True)
class StoreRead:
    """What one read of the store found: the envelopes it wants, in store order,
    how far it looked (`seen_to`: every wanted message up to there is in
    `envelopes`; the last of them when they filled the limit) and the store's
    `head`, from the same snapshot."""

    envelopes: list[Envelope]
    seen_to: int
    head: int

    @property
    def complete(self) -> bool:
        """Everything it wants up to the head was read."""
        return self.seen_to >= self.head


def _wanted_sql(
    types: list[str] | None, skip_unset: Sequence[tuple[str, int, str]]
) -> tuple[str, list[object]]:
    """The WHERE clauses (and their parameters) for messages of `types` (None:
    every type), less those of (type, version) whose `field` is empty."""
    clauses, params = "", []
    if types is not None:
        clauses, params = " AND type = ANY(%s)", [types]
    keys_by_field: dict[str, list[str]] = {}
    for message_type, version, field_name in skip_unset:
        keys_by_field.setdefault(field_name, []).append(f"{message_type}@{version}")
    for field_name, keys in sorted(keys_by_field.items()):
        clauses += (
            " AND NOT (type || '@' || version = ANY(%s) AND coalesce(payload ->> %s, '') = '')"
        )
        params += [keys, field_name]
    return clauses, params


def store_read_after(
    *,
    position: int,
    limit: int,
    types: list[str] | None = None,
    skip_unset: Sequence[tuple[str, int, str]] = (),
) -> StoreRead:
    """Up to `limit` envelopes after `position` (of `types`, or of any type; none
    of a (type, version) in `skip_unset` whose field is empty), in store order,
    looking no further than a window ahead (see above), and the store's head
    position, both from one snapshot.

    One statement means one snapshot: since the store has a single writer that
    commits positions in order, every position up to that head is visible in
    it, so a reader that moves its checkpoint to `seen_to` can never skip one.
    """
    if limit < 1:
        raise ValueError(f"a read of the store takes at least one message, not {limit}")
    wanted, wanted_params = _wanted_sql(types, skip_unset)
    window_end = position + max(limit * STORE_READ_WINDOW_BATCHES, STORE_READ_WINDOW_MIN)
    query = f"""
        SELECT head.position, e.*
        FROM (SELECT coalesce(max(position), 0) AS position FROM stored_event) AS head
        LEFT JOIN LATERAL (
            SELECT {_COLUMNS} FROM stored_event
            WHERE position > %s AND position <= %s{wanted}
            ORDER BY position LIMIT %s
        ) AS e ON true
    """  # noqa: S608 - only fixed SQL is interpolated
    params: list[object] = [position, window_end, *wanted_params, limit]
    with connections[EVENTS_ALIAS].cursor() as cursor:
        cursor.execute(query, params)
        rows = cursor.fetchall()
    head = rows[0][0] if rows else 0
    envelopes = [_envelope(row[1:]) for row in rows if row[1] is not None]
    if len(envelopes) >= limit:
        seen_to = envelopes[-1].position or position
    else:
        seen_to = max(position, min(head, window_end))
    return StoreRead(envelopes=envelopes, seen_to=seen_to, head=head)


def store_head() -> int:
    with connections[EVENTS_ALIAS].cursor() as cursor:
        cursor.execute("SELECT coalesce(max(position), 0) FROM stored_event")
        return cursor.fetchone()[0]


def store_get(*, position: int) -> Envelope | None:
    with connections[EVENTS_ALIAS].cursor() as cursor:
        cursor.execute(f"SELECT {_COLUMNS} FROM stored_event WHERE position = %s", [position])  # noqa: S608
        row = cursor.fetchone()
    return _envelope(row) if row else None


def store_count_after(
    *,
    position: int,
    types: list[str] | None = None,
    skip_unset: Sequence[tuple[str, int, str]] = (),
    up_to: int | None = None,
) -> int:
    """How many messages past `position` (of `types`, less `skip_unset`), counting
    no further than `up_to` (None: all): a bounded count costs at most `up_to`
    rows however far behind the reader is."""
    wanted, wanted_params = _wanted_sql(types, skip_unset)
    query = f"SELECT count(*) FROM stored_event WHERE position > %s{wanted}"  # noqa: S608
    params: list[object] = [position, *wanted_params]
    if up_to is not None:
        query = (
            f"SELECT count(*) FROM (SELECT 1 FROM stored_event WHERE position > %s{wanted}"  # noqa: S608
            " ORDER BY position LIMIT %s) AS wanted"
        )
        params.append(max(up_to, 0))
    with connections[EVENTS_ALIAS].cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()[0]


def saga_timeline(*, correlation_id: UUID) -> list[Envelope]:
    """Every message of one saga (sharing a correlation id), in store order."""
    with connections[EVENTS_ALIAS].cursor() as cursor:
        cursor.execute(
            f"SELECT {_COLUMNS} FROM stored_event WHERE correlation_id = %s ORDER BY position",  # noqa: S608
            [correlation_id],
        )
        return [_envelope(row) for row in cursor.fetchall()]


def sagas_of_aggregate(*, aggregate_id: str, keep: Sequence[str]) -> list[Envelope]:
    """The messages about `keep` in every saga (correlation id) with a message
    about the aggregate, in store order: an order's placement and its cancel,
    made by two requests, are two sagas.

    Filtered here, not by the caller: a client may send one X-Correlation-ID
    with every request, and a saga's other messages would then be the whole
    of that client's history. Driven by the aggregate index on both sides.
    """
    with connections[EVENTS_ALIAS].cursor() as cursor:
        cursor.execute(
            f"SELECT {_COLUMNS} FROM stored_event"  # noqa: S608
            " WHERE aggregate_id = ANY(%s) AND correlation_id IN"
            " (SELECT correlation_id FROM stored_event WHERE aggregate_id = %s)"
            " ORDER BY position",
            [list(keep), aggregate_id],
        )
        return [_envelope(row) for row in cursor.fetchall()]


def store_find(*, message_type: str, after: int = 0) -> Iterable[Envelope]:
    with connections[EVENTS_ALIAS].cursor() as cursor:
        cursor.execute(
            f"SELECT {_COLUMNS} FROM stored_event WHERE type = %s AND position > %s"  # noqa: S608
            " ORDER BY position",
            [message_type, after],
        )
        return [_envelope(row) for row in cursor.fetchall()]


@dataclass(frozen=True)
class OutboxBacklog:
    module: str
    pending: int
    oldest_at: datetime | None

    @property
    def oldest_age_seconds(self) -> float | None:
        if self.oldest_at is None:
            return None
        return round((timezone.now() - self.oldest_at).total_seconds(), 3)


def outbox_backlogs() -> list[OutboxBacklog]:
    backlogs = []
    for module, outbox in sorted(outbox_models().items()):
        pending = outbox.objects.using(module).filter(relayed_at__isnull=True)
        oldest = pending.order_by("id").values_list("occurred_at", flat=True).first()
        backlogs.append(OutboxBacklog(module=module, pending=pending.count(), oldest_at=oldest))
    return backlogs


@dataclass(frozen=True)
class SubscriberStatus:
    name: str
    module: str
    kind: str
    position: int
    lag: int  # store positions past its checkpoint, read or not
    waiting: int  # messages past its checkpoint that it reads: its backlog
    parked: int
    attempts: int
    failing_position: int | None
    last_error: str


def subscriber_status(subscriber: Subscriber, head: int) -> SubscriberStatus:
    checkpoint = (
        checkpoint_models()[subscriber.module]
        .objects.using(subscriber.module)
        .filter(subscriber=subscriber.name)
        .first()
    )
    parked = (
        parked_models()[subscriber.module]
        .objects.using(subscriber.module)
        .filter(subscriber=subscriber.name)
        .count()
    )
    position = checkpoint.position if checkpoint else 0
    return SubscriberStatus(
        name=subscriber.name,
        module=subscriber.module,
        kind="projection" if subscriber.is_projection else "subscriber",
        position=position,
        lag=max(head - position, 0),
        waiting=subscriber_waiting(subscriber, position=position),
        parked=parked,
        attempts=checkpoint.attempts if checkpoint else 0,
        failing_position=checkpoint.failing_position if checkpoint else None,
        last_error=checkpoint.last_error if checkpoint else "",
    )


def subscriber_waiting(subscriber: Subscriber, *, position: int, up_to: int | None = None) -> int:
    """How many stored messages past `position` the subscriber reads (counted no
    further than `up_to`). Its lag counts every position, and one that reads few
    types (or only with a field set) is run only for those: its lag grows between
    runs while nothing waits."""
    return store_count_after(
        position=position,
        types=subscriber.types(),
        skip_unset=subscriber.skips_unset(),
        up_to=up_to,
    )


def subscriber_statuses() -> list[SubscriberStatus]:
    head = store_head()
    return [subscriber_status(s, head) for s in subscribers.all()]


@dataclass(frozen=True)
class SubscriberBacklog:
    name: str
    module: str
    waiting: int  # counted up to the caller's bound
    parked: int


def subscriber_backlogs(*, count_up_to: int | None = None) -> list[SubscriberBacklog]:
    """Per subscriber, the messages waiting past its checkpoint (counted no
    further than `count_up_to`) and its parked messages: the part of its status
    a readiness probe needs, in two queries per module and one per subscriber."""
    positions: dict[str, dict[str, int]] = {}
    parked: dict[str, dict[str, int]] = {}
    backlogs = []
    for subscriber in subscribers.all():
        module = subscriber.module
        if module not in positions:
            positions[module] = dict(
                checkpoint_models()[module]
                .objects.using(module)
                .values_list("subscriber", "position")
            )
            parked[module] = dict(
                parked_models()[module]
                .objects.using(module)
                .order_by()
                .values("subscriber")
                .annotate(count=Count("pk"))
                .values_list("subscriber", "count")
            )
        waiting = subscriber_waiting(
            subscriber, position=positions[module].get(subscriber.name, 0), up_to=count_up_to
        )
        backlogs.append(
            SubscriberBacklog(
                name=subscriber.name,
                module=module,
                waiting=waiting,
                parked=parked[module].get(subscriber.name, 0),
            )
        )
    return backlogs
