"""Kicks are coalesced: at most one task waits per target, and none is ever missed."""

from __future__ import annotations

import pytest
from django.conf import settings

from apps.events import kicks

TARGET = "relay:customers"


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """The tasks the doorbell sends, recorded instead of queued for a worker."""
    sent: list[tuple] = []

    def record(task: str, *, queue: str, args: tuple = (), **_options: object) -> bool:
        sent.append((task, queue, args))
        return True

    monkeypatch.setattr(kicks, "_send", record)
    kicks.answer(TARGET)
    yield sent
    kicks.answer(TARGET)


def test_rings_while_a_task_waits_send_nothing_more_and_the_answer_opens_the_door(
    sent: list[tuple],
) -> None:
    for _ in range(3):
        kicks.ring_relay("customers")
    if kicks._redis() is None:  # no Redis (the embedded default): every kick is sent
        assert len(sent) == 3
        return
    assert sent == [("events.relay", "customers", ("customers",))]  # the module's own queue

    kicks.answer(TARGET)  # the waiting task starts: later commits need a new one
    kicks.ring_relay("customers")
    assert len(sent) == 2


def test_the_broker_default_is_the_doorbell_when_it_is_redis() -> None:
    broker_is_redis = settings.CELERY_BROKER_URL.startswith("redis://")
    assert (kicks._redis() is not None) == broker_is_redis


def test_a_kick_that_could_not_be_sent_leaves_the_door_open(
    sent: list[tuple], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kicks, "_send", lambda *a, **k: sent.append(a) and False)
    kicks.ring_relay("customers")
    kicks.ring_relay("customers")
    assert len(sent) == 2  # the first failed, so the second tried again


def test_with_the_doorbell_unreachable_every_kick_is_sent(sent: list[tuple], settings) -> None:
    settings.EVENTS_KICK_REDIS_URL = "redis://127.0.0.1:1/0"
    kicks.ring_relay("customers")
    kicks.ring_relay("customers")
    assert len(sent) == 2


def test_the_sweep_sends_deliveries_even_past_a_flag_whose_task_was_lost(
    sent: list[tuple],
) -> None:
    from apps.events import tasks

    kicks.answer(kicks.deliver_target("customers"))
    kicks.ring_delivery("customers", module="customers")  # this task is lost, say
    tasks.kick_deliveries({"orders.OrderPlaced"}, coalesce=False)  # what the sweep does
    delivered = [args for task, _, args in sent if task == "events.deliver"]
    assert delivered.count(("customers",)) == 2
    kicks.answer(kicks.deliver_target("customers"))


def test_a_subscriber_that_may_lag_is_kicked_by_the_sweep_only(sent: list[tuple]) -> None:
    from apps.events import tasks

    for name in ("events.type_stats", "tests.probe"):
        kicks.answer(kicks.deliver_target(name))
    tasks.kick_deliveries({"customers.ProbePinged"})
    after_relay = {args[0] for task, _, args in sent if task == "events.deliver"}
    sent.clear()
    tasks.kick_deliveries({"customers.ProbePinged"}, coalesce=False)
    after_sweep = {args[0] for task, _, args in sent if task == "events.deliver"}
    assert "tests.probe" in after_relay
    assert "events.type_stats" not in after_relay
    assert "events.type_stats" in after_sweep
    for name in ("events.type_stats", "tests.probe"):
        kicks.answer(kicks.deliver_target(name))
