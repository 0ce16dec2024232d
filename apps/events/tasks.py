"""Celery tasks of the event platform: thin wrappers around the services.

A module's relay and its subscribers' deliveries run on the module's own queue,
so a module's workers (the only ones that use its database) can be scaled or
moved on their own; the sweep, on `events`, only sends tasks.
Kicks never raise: with the broker down they are lost, and the beat sweep
(`events.sweep`, every EVENTS_SWEEP_SECONDS) catches up once it is back.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from apps.events import kicks
from apps.events.public.publishing import relayed_by_caller
from apps.events.public.records import outbox_models
from apps.events.public.subscriptions import subscribers
from apps.events.services import (
    outbox_relay_pass,
    outbox_retention_sweep,
    subscriber_deliver,
)

logger = logging.getLogger(__name__)


def kick_deliveries(message_types: set[str] | None = None, *, coalesce: bool = True) -> None:
    """Nudge the subscribers that something relayed is for (None: all of them).

    `message_types`: the types relayed, and `type?field` for each field found
    set that a subscriber reads that type only with (`only_if_set`): the bookings
    saga is not woken for the online store's orders."""
    wanting = [
        subscriber
        for subscriber in subscribers.all()
        if (message_types is None or subscriber.kicked_by(message_types))
        and (subscriber.kicked or not coalesce)  # the sweep (coalesce=False) catches up the rest
    ]
    if coalesce:  # one Redis round trip for all their doorbells
        kicks.ring_deliveries([(subscriber.name, subscriber.module) for subscriber in wanting])
        return
    for subscriber in wanting:
        kicks.ring_delivery(subscriber.name, module=subscriber.module, coalesce=False)


@shared_task(name="events.relay", ignore_result=True)
def relay_outboxes(
    module: str | None = None,
    sweeping: bool = False,
    doorbell: str | None = None,
    **_later_options: object,  # what newer senders may add: not a TypeError here
) -> int:
    """Relay one module's outbox (on that module's queue), or every outbox; when
    sent by the sweep, also clear relayed rows past their retention.

    One pass each: what commits meanwhile rang for a task of its own. An outbox
    another relay holds, or one with more than a time budget's worth, is kicked
    again (paced), so nothing waits for the sweep.
    """
    modules = sorted(outbox_models()) if module is None else [module]
    seen_types: set[str] = set()
    moved = 0
    for name in modules:
        kicks.answer(kicks.relay_target(name), doorbell)
        relay_pass = outbox_relay_pass(module=name, seen_types=seen_types)
        moved += relay_pass.moved
        if sweeping and getattr(settings, "EVENTS_OUTBOX_RETENTION_SECONDS", 0) > 0:
            outbox_retention_sweep(module=name)
        if relay_pass.busy:
            kicks.ring_relay(name, at_least=kicks.BUSY_RETRY_SECONDS)
        elif relay_pass.more:
            kicks.ring_relay(name)
    if seen_types:
        kick_deliveries(seen_types)
    return moved


@shared_task(name="events.deliver", ignore_result=True)
def deliver(subscriber: str, doorbell: str | None = None, **_later_options: object) -> None:
    try:
        subscribed = subscribers.get(subscriber)
    except KeyError:  # a worker on older code: open the door for one that knows it
        kicks.answer(kicks.deliver_target(subscriber), doorbell)
        raise
    kicks.answer(kicks.deliver_target(subscriber), doorbell, pace=subscribed.pace)
    module = subscribed.module
    relays_own_outbox = module in outbox_models()
    # What the handlers publish is relayed here, at once, rather than by a task
    # of its own queued behind others: a saga step costs one task, not two.
    try:
        with relayed_by_caller(module) as published:
            report = subscriber_deliver(
                name=subscriber,
                max_batches=20,
                look_again=False,
                time_budget=float(getattr(settings, "EVENTS_DELIVERY_TIME_BUDGET", 10)),
            )
        if published.owed and relays_own_outbox:
            relay_outboxes(module)
    except BaseException:
        if relays_own_outbox:  # batches that committed before the failure rang nothing
            kicks.ring_relay(module)
        raise
    if report.waiting and report.retry_in is not None:
        kicks.send_delivery_later(subscriber, module=module, countdown=report.retry_in)
    elif report.busy:
        # Another delivery holds the subscriber; this kick may have come after it
        # read, so look again once it is likely done.
        kicks.ring_delivery(subscriber, module=module, at_least=kicks.BUSY_RETRY_SECONDS)
    elif not (report.caught_up or report.outdated):
        # More to do, or this task's time ran out (`out_of_time`): go on in a fresh task.
        kicks.ring_delivery(subscriber, module=module)


@shared_task(name="events.sweep", ignore_result=True)
def sweep() -> None:
    """Beat's safety net: have every outbox relayed and every subscriber caught up,
    past the doorbell (a flag may have outlived its task). It touches no module's
    database itself: each module's workers do their own part on their own queue."""
    for module in sorted(outbox_models()):
        kicks.ring_relay(module, coalesce=False)
    kick_deliveries(coalesce=False)
