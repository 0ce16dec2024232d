"""Read-only questions other parts of the system may ask the event platform.

They return frozen DTOs, never model instances.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from apps.events import selectors
from apps.events.public.envelope import Envelope


@dataclass(frozen=True)
class OutboxBacklog:
    module: str
    pending: int
    oldest_age_seconds: float | None


@dataclass(frozen=True)
class SubscriberBacklog:
    subscriber: str
    module: str
    waiting: int  # messages past its checkpoint that it reads, up to `count_up_to`
    parked: int  # messages it gave up on, waiting for an operator (retry_parked)


@dataclass(frozen=True)
class TimelineEntry:
    position: int
    type: str
    occurred_at: datetime
    source: str
    aggregate_id: str
    payload: dict[str, Any]


def outbox_backlogs() -> list[OutboxBacklog]:
    """Messages waiting in each module's outbox, and how old the oldest one is."""
    return [
        OutboxBacklog(module=b.module, pending=b.pending, oldest_age_seconds=b.oldest_age_seconds)
        for b in selectors.outbox_backlogs()
    ]


def subscriber_backlogs(*, count_up_to: int | None = None) -> list[SubscriberBacklog]:
    """Each subscriber's backlog (messages waiting past its checkpoint, counted no
    further than `count_up_to`; None: all) and its parked messages."""
    return [
        SubscriberBacklog(subscriber=b.name, module=b.module, waiting=b.waiting, parked=b.parked)
        for b in selectors.subscriber_backlogs(count_up_to=count_up_to)
    ]


def saga_of(*, aggregate_id: str, with_aggregates: Iterable[str] = ()) -> list[TimelineEntry]:
    """The sagas an aggregate took part in (its placement's, its cancel's, ...):
    their messages about it and about `with_aggregates` (an order's booking, a
    booking's order), in store order; empty before the relay. Only those: a
    client may choose its correlation id and share it with other requests."""
    keep = [aggregate_id, *with_aggregates]
    return [_entry(e) for e in selectors.sagas_of_aggregate(aggregate_id=aggregate_id, keep=keep)]


def saga_timeline(*, correlation_id: UUID) -> list[TimelineEntry]:
    """Every stored message sharing `correlation_id`, in store order."""
    return [_entry(e) for e in selectors.saga_timeline(correlation_id=correlation_id)]


def _entry(envelope: Envelope) -> TimelineEntry:
    return TimelineEntry(
        position=envelope.position or 0,
        type=envelope.type,
        occurred_at=envelope.occurred_at,
        source=envelope.source,
        aggregate_id=envelope.aggregate_id,
        payload=envelope.payload,
    )
