"""Time limits, for real: a Celery worker process with tiny limits, and handlers
that overrun them (docs/operations.md, "Time limits").

A handler that sleeps past the soft limit is stopped, its transaction rolled
back, its message retried and then parked, the subscriber's lock let go of, and
the next message delivered. One that will not stop is killed by the hard limit,
and the in-flight marker counts those deaths as attempts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import transaction

from apps.events.public import publish
from apps.events.public.records import checkpoint_models, parked_models
from apps.events.selectors import store_head
from apps.events.services._common import lock_key
from tests.events import probe
from tests.events.conftest import owner_connection
from tests.events.probe import MODULE, ProbePinged
from tests.workers import wait_until, worker_process

ALL = "__all__"
SUBSCRIBER = "tests.probe"
MAX_ATTEMPTS = 2
TINY_LIMITS = {
    "TASK_SOFT_TIME_LIMIT_SECONDS": "1",
    "TASK_TIME_LIMIT_SECONDS": "3",
    "EVENTS_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    "EVENTS_RETRY_BASE_SECONDS": "0.2",
}


@pytest.fixture
def fresh_probe_checkpoint(clean_bus: None) -> None:
    """The probe from its first message on: no checkpoint, nothing parked."""
    for models in (checkpoint_models(), parked_models()):
        models[MODULE].objects.using(MODULE).filter(subscriber=SUBSCRIBER).delete()


def parked() -> list:
    return list(parked_models()[MODULE].objects.using(MODULE).filter(subscriber=SUBSCRIBER))


def delivered(key: str) -> bool:
    return bool(probe.effects(key))


def lock_holders(database: str) -> int:
    """Sessions holding the subscriber's advisory lock (a bigint key: its high and
    low halves are classid and objid)."""
    key = lock_key(f"subscriber.{SUBSCRIBER}")
    with owner_connection(database) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE l.locktype = 'advisory' AND l.granted AND d.datname = %s"
            " AND l.classid = %s AND l.objid = %s AND l.objsubid = 1",
            [database, key >> 32, key & 0xFFFFFFFF],
        ).fetchone()[0]


def run_past_the_limits(
    database: str, folder: Path, overrunning: str, *, timeout: float, sweep: bool = True
) -> None:
    """Publish `overrunning` then a plain message, with a worker on tiny limits
    running until the first is parked, the second delivered and the subscriber's
    lock seen free (TimeoutError otherwise). Without the sweep, only the tasks'
    own kicks move delivery on."""
    with transaction.atomic(using=MODULE):
        publish(ProbePinged(key=overrunning), source=MODULE)
        publish(ProbePinged(key="after"), source=MODULE)
    environment = {**TINY_LIMITS, **({} if sweep else {"EVENTS_SWEEP_SECONDS": "3600"})}
    with worker_process(database, folder, environment=environment, include=[probe.__name__]):
        wait_until(lambda: bool(parked()) and delivered("after"), timeout=timeout)
        # A delivery (a sweep's) may hold the subscriber for a moment; none may keep it.
        wait_until(lambda: lock_holders(database) == 0, timeout=10)


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_a_handler_that_sleeps_past_its_limit_is_stopped_retried_parked_and_the_next_delivered(
    django_db_setup: str, fresh_probe_checkpoint: None, tmp_path: Path
) -> None:
    # The handler sleeps a minute; with no time limit the message is never
    # parked in time and this fails (tried: TASK_*_TIME_LIMIT_SECONDS=0). No
    # sweep: each task whose time ran out kicks the next one itself.
    key = f"{probe.SLEEPER}1"
    run_past_the_limits(django_db_setup, tmp_path, key, timeout=40, sweep=False)

    (message,) = parked()
    assert message.attempts == MAX_ATTEMPTS
    assert message.error.startswith("SoftTimeLimitExceeded")
    assert probe.effects(key) == []  # its insert, made before the sleep, rolled back
    assert len(probe.effects("after")) == 1  # delivered, once
    checkpoint = checkpoint_models()[MODULE].objects.using(MODULE).get(subscriber=SUBSCRIBER)
    assert (checkpoint.position, checkpoint.attempts, checkpoint.inflight_position) == (
        store_head(), 0, None,
    )  # fmt: skip


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_a_handler_that_ignores_the_soft_limit_is_killed_and_its_deaths_counted(
    django_db_setup: str, fresh_probe_checkpoint: None, tmp_path: Path
) -> None:
    # It catches SoftTimeLimitExceeded and sleeps on: the hard limit kills the
    # pool process, each time, and the in-flight marker counts the attempts.
    key = f"{probe.STUBBORN}1"
    run_past_the_limits(django_db_setup, tmp_path, key, timeout=90)

    (message,) = parked()
    assert message.attempts == MAX_ATTEMPTS
    assert "died" in message.error
    assert probe.effects(key) == []
    assert len(probe.effects("after")) == 1


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_a_delivery_cut_by_the_soft_limit_stops_and_leaves_the_rest_to_the_next(
    fresh_probe_checkpoint: None, settings
) -> None:
    """In process, with the soft limit's exception raised by hand: a batch cut short
    is isolated by the next delivery, not by the task whose time is up; once the
    message is parked the task stops too, and the next one goes on."""
    from celery.exceptions import SoftTimeLimitExceeded

    from apps.events.services import outbox_relay, subscriber_deliver

    settings.EVENTS_MAX_ATTEMPTS = 2
    settings.EVENTS_RETRY_BASE_SECONDS = 0

    def time_is_up(message: ProbePinged, _envelope: object) -> None:
        if message.key == "slow":
            raise SoftTimeLimitExceeded()

    with transaction.atomic(using=MODULE):
        for key in ("before", "slow", "after"):
            publish(ProbePinged(key=key), source=MODULE)
    outbox_relay(module=MODULE)

    def keys() -> list[str]:
        return [key for key, _, _ in probe.effects()]

    def checkpoint():
        return checkpoint_models()[MODULE].objects.using(MODULE).get(subscriber=SUBSCRIBER)

    probe.WATCHERS.append(time_is_up)
    try:
        first = subscriber_deliver(name=SUBSCRIBER)  # the batch: cut, rolled back
        assert (first.out_of_time, first.handled, keys()) == (True, 0, [])
        assert checkpoint().inflight_position is not None  # the next one isolates
        second = subscriber_deliver(name=SUBSCRIBER)  # one by one: attempt 1
        assert (second.waiting, keys(), checkpoint().attempts) == (True, ["before"], 1)
        third = subscriber_deliver(name=SUBSCRIBER)  # attempt 2: parked, and it stops
        assert (third.out_of_time, third.parked, keys()) == (True, 1, ["before"])
        fourth = subscriber_deliver(name=SUBSCRIBER)
        assert (fourth.caught_up, keys()) == (True, ["before", "after"])
    finally:
        probe.WATCHERS.remove(time_is_up)
    (message,) = parked()
    assert message.attempts == 2
    assert message.error.startswith("SoftTimeLimitExceeded")
