"""The Celery path, for real: a worker, the configured broker (Redis in CI), beat.

Guarantee 2 (no loss) across a broker outage: a request that publishes while
the broker is down still succeeds, its kick is lost, and beat's sweep delivers
the message once the broker is back.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from celery.beat import EmbeddedService
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import transaction
from django.test import Client

from apps.events import kicks
from apps.events.public import publish
from apps.events.public.records import outbox_models
from project.celery import app
from project.health import check_broker
from tests.events import probe
from tests.events.probe import MODULE, ProbePinged

ALL = "__all__"
QUEUES = ["events", "customers", "orders", "ticketing", "bookings"]
REDIS_START = (
    "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port {port} --save '' "
    "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log"
)


@contextlib.contextmanager
def running_worker(django_db_blocker) -> Iterator[None]:
    was_in_worker = kicks._in_worker
    try:
        with (
            django_db_blocker.unblock(),
            start_worker(
                app,
                pool="solo",
                concurrency=1,
                queues=QUEUES,
                perform_ping_check=False,
                loglevel="WARNING",
                shutdown_timeout=30,
            ),
        ):
            yield
    finally:
        # Its worker_init made this process a worker's, which it is no longer.
        kicks._in_worker = was_in_worker


@contextlib.contextmanager
def running_beat(tmp_path: Path) -> Iterator[None]:
    beat = EmbeddedService(
        app, thread=True, schedule_filename=str(tmp_path / "beat-schedule"), max_interval=0.5
    )
    beat.start()
    try:
        yield
    finally:
        beat.stop()


def wait_until(condition, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.1)


@contextlib.contextmanager
def broker_outage() -> Iterator[None]:
    """Make the configured broker unreachable, and bring it back afterwards."""
    url = settings.CELERY_BROKER_URL
    if url.startswith("redis://"):
        port = urlsplit(url).port or 6379
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis.from_url(url).shutdown(nosave=True)
        try:
            yield
        finally:
            command = os.environ.get("BOXOFFICE_TEST_REDIS_START", REDIS_START).format(port=port)
            subprocess.run(shlex.split(command), check=True)
            wait_until(lambda: _redis_answers(url), timeout=20)
    elif url.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        away = folder.with_name(folder.name + ".down")
        folder.rename(away)
        try:
            yield
        finally:
            away.rename(folder)
    else:
        pytest.fail(f"no outage recipe for broker {url}")


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.ConnectionError:
        return False


def pending_outbox() -> int:
    return outbox_models()[MODULE].objects.using(MODULE).count()


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_a_real_worker_carries_a_message_from_publish_to_handler(
    clean_bus: None, django_db_blocker
) -> None:
    with running_worker(django_db_blocker):
        assert kicks._in_worker  # a worker's process rings in place
        with transaction.atomic(using=MODULE):
            publish(ProbePinged(key="via-worker"), source=MODULE)
        # No beat here: the commit's kick alone drives relay and delivery.
        wait_until(lambda: len(probe.effects("via-worker")) == 1)
        wait_until(lambda: len(probe.projection_rows()) == 1)
    assert pending_outbox() == 0
    assert len(probe.effects("via-worker")) == 1


@pytest.mark.urls("tests.events.urls")
@pytest.mark.django_db(databases=ALL, transaction=True)
def test_messages_published_during_a_broker_outage_arrive_when_it_is_back(
    clean_bus: None, django_db_blocker, tmp_path: Path
) -> None:
    with broker_outage():
        assert not check_broker().ok
        started = time.monotonic()
        for key in ("down-1", "down-2"):
            response = Client().post(
                "/api/probe/pings/", {"key": key}, content_type="application/json"
            )
            assert response.status_code == 202  # the request that publishes succeeds
        assert time.monotonic() - started < 10, "a dead broker must not stall publishers"
        assert pending_outbox() == 2
    assert check_broker().ok
    assert pending_outbox() == 2  # the kicks were lost: nothing moved them

    with running_worker(django_db_blocker), running_beat(tmp_path):
        wait_until(lambda: len(probe.effects()) == 2)
    assert sorted(key for key, _, _ in probe.effects()) == ["down-1", "down-2"]
    assert pending_outbox() == 0
