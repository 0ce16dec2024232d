"""The bus under stress: concurrent workers, dying processes, careless handlers."""

from __future__ import annotations

import multiprocessing
import os
import threading

import pytest
from django.db import connections, transaction

from apps.events.public import publish, subscribers
from apps.events.public.records import checkpoint_models, outbox_models, parked_models
from apps.events.selectors import store_find, store_head
from apps.events.services import (
    backoff_seconds,
    outbox_relay,
    outbox_relay_pass,
    parked_retry,
    subscriber_deliver,
)
from apps.events.services.delivery import subscriber_lock
from apps.events.services.relay import _relay_run
from tests.events import probe
from tests.events.probe import CRASH_EXIT_CODE, MODULE, ProbePinged
from tests.threads import in_threads

ALL = "__all__"


def ping(*keys: str) -> None:
    with transaction.atomic(using=MODULE):
        for key in keys:
            publish(ProbePinged(key=key), source=MODULE)


def checkpoint(name: str = "tests.probe"):
    return checkpoint_models()[MODULE].objects.using(MODULE).get(subscriber=name)


def parked(name: str = "tests.probe") -> list:
    return list(parked_models()[MODULE].objects.using(MODULE).filter(subscriber=name))


def in_four_threads(target) -> None:
    in_threads([target] * 4)


def deliver_in_a_child_process(name: str = "tests.probe") -> int:
    """A worker process of its own, which the test may see die."""
    connections.close_all()
    child = multiprocessing.get_context("fork").Process(
        target=lambda: subscriber_deliver(name=name)
    )
    child.start()
    child.join(timeout=60)
    return child.exitcode


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_concurrent_relays_store_each_message_once_in_order(clean_bus: None) -> None:
    keys = [f"r{i}" for i in range(300)]
    for chunk in range(0, 300, 30):
        ping(*keys[chunk : chunk + 30])
    in_four_threads(lambda: outbox_relay(module=MODULE, batch_size=25))
    outbox_relay(module=MODULE)
    stored = [e.aggregate_id for e in store_find(message_type="customers.ProbePinged")]
    assert stored == keys  # each once, in the order they were published
    assert not outbox_models()[MODULE].objects.using(MODULE).exists()


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_concurrent_deliveries_apply_each_message_once(clean_bus: None) -> None:
    keys = [f"d{i}" for i in range(200)]
    ping(*keys)
    outbox_relay(module=MODULE)
    in_four_threads(
        lambda: [subscriber_deliver(name="tests.probe", batch_size=20) for _ in range(5)]
    )
    subscriber_deliver(name="tests.probe")
    assert sorted(key for key, _, _ in probe.effects()) == sorted(keys)
    assert checkpoint().position == store_head()


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_a_message_that_kills_the_worker_is_parked_after_the_attempts(
    clean_bus: None,
    settings,
) -> None:
    settings.EVENTS_MAX_ATTEMPTS = 3
    settings.EVENTS_RETRY_BASE_SECONDS = 0
    ping("before", "killer", "after")
    outbox_relay(module=MODULE)
    probe.CRASHING.add("killer")

    # The whole batch dies once; then each message goes on its own, with an
    # attempt counted before it runs: the killer dies three times.
    exits = [deliver_in_a_child_process() for _ in range(4)]
    assert exits == [CRASH_EXIT_CODE] * 4
    assert [key for key, _, _ in probe.effects()] == ["before"]
    assert checkpoint().attempts == 3

    assert deliver_in_a_child_process() == 0  # parked without being run again
    (parked_message,) = parked()
    assert parked_message.attempts == 3
    assert "died" in parked_message.error
    assert [key for key, _, _ in probe.effects()] == ["before", "after"]
    assert checkpoint().position == store_head()


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_a_process_that_dies_right_after_the_handlers_commit_never_applies_them_again(
    clean_bus: None,
) -> None:
    """The guarantee itself: a subscriber's effects and its checkpoint commit in one
    transaction, so a death just after that commit leaves nothing to redeliver. With
    the checkpoint written after the handlers' commit, the message is applied twice."""
    ping("before", "dies-after-commit", "after")
    outbox_relay(module=MODULE)

    def die_once_committed(message: ProbePinged, _envelope: object) -> None:
        if message.key == "dies-after-commit":
            transaction.on_commit(lambda: os._exit(CRASH_EXIT_CODE), using=MODULE)

    probe.WATCHERS.append(die_once_committed)
    try:
        assert deliver_in_a_child_process() == CRASH_EXIT_CODE  # died once committed
    finally:
        probe.WATCHERS.remove(die_once_committed)
    assert deliver_in_a_child_process() == 0
    assert [key for key, _, _ in probe.effects()] == ["before", "dies-after-commit", "after"]
    assert checkpoint().position == store_head()
    assert not parked()


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_a_crash_with_part_of_the_batch_already_stored_keeps_one_copy_of_each(
    clean_bus: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.events.services import relay

    ping("first")

    def die(**_kwargs: object) -> None:
        raise OSError("the relay process dies here")

    monkeypatch.setattr(relay, "_outbox_clear", die)
    with pytest.raises(OSError, match="dies here"):
        outbox_relay(module=MODULE)  # stored, committed, then the process "dies"
    monkeypatch.undo()
    ping("second", "third")
    assert outbox_relay(module=MODULE) == 3
    stored = [e.aggregate_id for e in store_find(message_type="customers.ProbePinged")]
    assert stored == ["first", "second", "third"]


@pytest.mark.django_db(databases=ALL)
def test_a_handler_that_swallows_a_database_error_is_not_counted_as_done(
    fast_retries: None,
) -> None:
    probe.SWALLOWING.add("careless")
    ping("careless")
    outbox_relay(module=MODULE)
    report = subscriber_deliver(name="tests.probe")
    assert report.waiting
    assert report.handled == 0
    assert "caught a database error" in checkpoint().last_error
    assert probe.effects("careless") == []


def test_backoff_doubles_up_to_its_cap(settings) -> None:
    settings.EVENTS_RETRY_BASE_SECONDS = 1
    settings.EVENTS_RETRY_MAX_SECONDS = 30
    assert [backoff_seconds(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


@pytest.mark.django_db(databases=ALL)
def test_the_wait_before_each_retry_grows(settings) -> None:
    from django.utils import timezone

    settings.EVENTS_MAX_ATTEMPTS = 5
    settings.EVENTS_RETRY_BASE_SECONDS = 10
    probe.FAILING.add("slow")
    ping("slow")
    outbox_relay(module=MODULE)
    waits = []
    for _ in range(3):
        report = subscriber_deliver(name="tests.probe")
        waits.append(report.retry_in)
        model = checkpoint_models()[MODULE]
        model.objects.using(MODULE).filter(subscriber="tests.probe").update(
            next_attempt_at=timezone.now()
        )  # let the clock run out
    assert waits == [10, 20, 40]


@pytest.mark.django_db(databases=ALL)
def test_older_code_does_not_move_a_checkpoint_past_types_it_does_not_know(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ping("v")
    outbox_relay(module=MODULE)
    subscriber_deliver(name="tests.probe")
    position = checkpoint().position
    model = checkpoint_models()[MODULE]
    model.objects.using(MODULE).filter(subscriber="tests.probe").update(
        handled_types="customers.ProbePinged,customers.SomethingNewer"
    )  # as newer code would have left it
    ping("w")
    outbox_relay(module=MODULE)
    report = subscriber_deliver(name="tests.probe")
    assert report.outdated
    assert checkpoint().position == position
    assert probe.effects("w") == []


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_retrying_a_parked_message_waits_for_the_subscribers_delivery(
    clean_bus: None, fast_retries: None
) -> None:
    probe.FAILING.add("p")
    ping("p")
    outbox_relay(module=MODULE)
    for _ in range(3):
        subscriber_deliver(name="tests.probe")
    assert len(parked()) == 1
    probe.FAILING.clear()

    holding, release = threading.Event(), threading.Event()

    def hold_the_subscriber() -> None:
        with subscriber_lock(subscribers.get("tests.probe"), wait=True):
            holding.set()
            release.wait(10)
        connections.close_all()

    holder = threading.Thread(target=hold_the_subscriber)
    holder.start()
    holding.wait(10)
    retry = threading.Thread(
        target=lambda: (parked_retry(subscriber="tests.probe"), connections.close_all())
    )
    retry.start()
    retry.join(timeout=1)
    assert retry.is_alive(), "the retry must wait while a delivery holds the subscriber"
    release.set()
    retry.join(timeout=10)
    holder.join(timeout=10)
    assert parked() == []
    assert len(probe.effects("p")) == 1


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_a_relay_that_finds_another_at_work_steps_aside(
    clean_bus: None, django_db_setup: str
) -> None:
    from apps.events.services._common import lock_key
    from tests.events.conftest import owner_connection

    ping("x")
    with owner_connection(django_db_setup) as other:  # another relay, mid-batch
        other.autocommit = False
        other.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(f"relay.{MODULE}")])
        moved_busy_more = _relay_run(module=MODULE, table="customers_outbox", batch_size=10)
        assert moved_busy_more == (0, True, False)
        assert outbox_relay_pass(module=MODULE).busy
        assert outbox_relay(module=MODULE) == 0
        other.rollback()
    assert outbox_relay(module=MODULE) == 1
