"""Replay: move a projection back so that delivery re-reads the store.

Only projections (subscribers that publish nothing) can be replayed, so replay
never sends a command again.
"""

from __future__ import annotations

from django.db import transaction

from apps.events.public.records import parked_models
from apps.events.public.subscriptions import Subscriber, subscribers
from apps.events.services.delivery import _CLEAR, _checkpoint, _save, subscriber_lock


class ReplayRefused(Exception):
    """Replaying this subscriber would send its messages again, or lose state."""


def subscriber_rewind(*, name: str, from_position: int = 1) -> Subscriber:
    """Reset a projection's read model and its checkpoint, so that delivery
    rebuilds it from `from_position`.

    From the start, the projection's `reset` clears its read model. From a
    later position, its `reset_from(position)` must remove exactly what those
    messages built; a projection without one cannot be replayed part-way.
    """
    subscriber = subscribers.get(name)
    if subscriber.publishes:
        raise ReplayRefused(
            f"{name} publishes messages (it is a saga step or reaction), so replaying it would"
            " send them again; only projections can be replayed"
        )
    if from_position > 1 and subscriber.reset_from is None:
        raise ReplayRefused(
            f"{name} cannot be rebuilt from position {from_position}: it declares no"
            " reset_from(position); rebuild it from the start"
        )
    alias = subscriber.module
    with subscriber_lock(subscriber, wait=True), transaction.atomic(using=alias):
        if from_position > 1:
            assert subscriber.reset_from is not None
            subscriber.reset_from(from_position)
        else:
            assert subscriber.reset is not None
            subscriber.reset()
        checkpoint = _checkpoint(subscriber)
        _save(checkpoint, alias, position=from_position - 1, inflight_position=None, **_CLEAR)
        parked_models()[alias]._default_manager.using(alias).filter(
            subscriber=name, position__gte=from_position
        ).delete()
    return subscriber
