"""Readiness reports the subscribers' backlogs and parked messages, and fails
only past their thresholds (EVENTS_HEALTH_MAX_WAITING, EVENTS_HEALTH_MAX_PARKED)."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client

from apps.events.public import publish
from apps.events.public.queries import subscriber_backlogs
from apps.events.services import outbox_relay, subscriber_deliver
from apps.events.testing import drain
from tests.events import probe
from tests.events.probe import MODULE, ProbePinged

pytestmark = pytest.mark.django_db(databases="__all__")


def ping(key: str) -> None:
    with transaction.atomic(using=MODULE):
        publish(ProbePinged(key=key), source=MODULE)


def readiness() -> tuple[int, dict]:
    response = Client().get("/api/health/")
    return response.status_code, response.json()


def waiting_for_probe() -> int:
    (backlog,) = [b for b in subscriber_backlogs() if b.subscriber == "tests.probe"]
    return backlog.waiting


def test_readiness_fails_naming_a_subscriber_past_its_waiting_limit(settings) -> None:
    drain()  # whatever earlier tests left
    settings.EVENTS_HEALTH_MAX_WAITING = 2
    for n in range(3):
        ping(f"lag-{n}")
    outbox_relay(module=MODULE)  # in the store, not yet delivered
    assert waiting_for_probe() == 3

    status, body = readiness()
    assert status == 503, body
    assert body["failing"] == ["subscribers"]
    detail = body["checks"]["subscribers"]["detail"]
    assert "more than 2 waiting for" in detail
    assert "tests.probe" in detail

    settings.EVENTS_HEALTH_MAX_WAITING = 3  # at the limit is not past it
    status, body = readiness()
    assert status == 200, body
    assert body["checks"]["subscribers"]["status"] == "ok"
    assert "waiting" in body["checks"]["subscribers"]["detail"]

    settings.EVENTS_HEALTH_MAX_WAITING = 0
    drain()
    status, body = readiness()
    assert status == 200, body
    assert body["checks"]["subscribers"]["detail"] == "0 waiting"


def test_the_waiting_count_stops_one_past_the_limit() -> None:
    drain()
    for n in range(5):
        ping(f"count-{n}")
    outbox_relay(module=MODULE)
    (capped,) = [b for b in subscriber_backlogs(count_up_to=2) if b.subscriber == "tests.probe"]
    assert capped.waiting == 2
    assert waiting_for_probe() == 5


def test_readiness_fails_past_the_parked_limit_and_reports_below_it(
    settings, fast_retries: None
) -> None:
    drain()
    probe.FAILING.add("poison")
    ping("poison")
    outbox_relay(module=MODULE)
    for _ in range(3):  # EVENTS_MAX_ATTEMPTS, then parked
        subscriber_deliver(name="tests.probe")

    settings.EVENTS_HEALTH_MAX_PARKED = 1
    status, body = readiness()
    assert status == 200, body
    parked = body["checks"]["parked"]
    assert parked["status"] == "ok"
    assert parked["detail"] == "1 parked: tests.probe (1)"

    settings.EVENTS_HEALTH_MAX_PARKED = 0
    status, body = readiness()
    assert status == 503, body
    assert body["failing"] == ["parked"]
    assert body["checks"]["parked"]["detail"] == "1 parked: tests.probe (1); more than 0"


def test_readiness_passes_by_default_with_a_parked_message(fast_retries: None) -> None:
    """A poison message is for an operator (retry_parked): by default it does not
    take the web nodes out of the load balancer."""
    drain()
    probe.FAILING.add("poison")
    ping("poison")
    outbox_relay(module=MODULE)
    for _ in range(3):
        subscriber_deliver(name="tests.probe")
    status, body = readiness()
    assert status == 200, body
    assert body["checks"]["parked"]["detail"].startswith("1 parked")
