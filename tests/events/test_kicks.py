"""Kicks are coalesced: at most one task waits per target, and none is ever missed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis
from celery import signals

from apps.events import kicks

TARGET = "relay:customers"


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """The tasks the doorbell sends, recorded instead of queued for a worker."""
    sent: list[tuple] = []

    def record(
        task: str, *, queue: str, args: tuple = (), kwargs: dict | None = None, **_options: object
    ) -> bool:
        sent.append((task, queue, args))
        doorbells.append((kwargs or {}).get("doorbell"))
        return True

    doorbells.clear()
    monkeypatch.setattr(kicks, "_send", record)
    kicks.clear(TARGET)
    yield sent
    kicks.clear(TARGET)


doorbells: list[str | None] = []  # the token each recorded task carries


@pytest.fixture
def doorbell(settings, redis_url: str) -> redis.Redis:
    """The doorbell on a real Redis, whatever the broker is."""
    settings.EVENTS_KICK_REDIS_URL = redis_url
    client = kicks._redis()
    assert client is not None
    kicks.clear(TARGET)
    return client


@pytest.fixture
def no_doorbell(settings) -> None:
    """No doorbell, as with the filesystem broker and no EVENTS_KICK_REDIS_URL."""
    settings.EVENTS_KICK_REDIS_URL = ""
    assert kicks._redis() is None


def test_without_a_doorbell_every_ring_sends_a_kick_at_once(
    no_doorbell: None, sent: list[tuple], settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    countdowns: list[float | None] = []
    monkeypatch.setattr(
        kicks,
        "_send",
        lambda *a, countdown=None, **k: sent.append(a) or countdowns.append(countdown) or True,
    )
    settings.EVENTS_KICK_PACE_SECONDS = 0.5
    kicks.answer(TARGET)  # a run just now, and an answer: neither holds anything back
    for _ in range(3):
        kicks.ring_relay("customers")
    assert len(sent) == 3
    assert countdowns == [None, None, None]  # no pace
    assert kicks.ring_relay_covering("customers") == 0.0  # no task is known to wait


def test_rings_while_a_task_waits_send_nothing_more_and_the_answer_opens_the_door(
    doorbell: object, sent: list[tuple]
) -> None:
    for _ in range(3):
        kicks.ring_relay("customers")
    assert sent == [("events.relay", "customers", ("customers",))]  # the module's own queue

    kicks.answer(TARGET, doorbells[0])  # the waiting task starts: later commits need a new one
    kicks.ring_relay("customers")
    assert len(sent) == 2


def test_a_ring_covers_later_commits_until_a_pace_after_the_waiting_task_may_start(
    doorbell: object, sent: list[tuple], settings
) -> None:
    settings.EVENTS_KICK_PACE_SECONDS = 0.4
    # Less a gathering (a quarter pace): the ringer thread may ring that much late.
    pace_less_gathering = 0.3
    kicks.answer(TARGET)  # a run just now: the next one waits out the pace
    sent_now = kicks.ring_relay_covering("customers")
    found_waiting = kicks.ring_relay_covering("customers")
    assert len(sent) == 1
    # Sent with the mark's countdown (0.2-0.4 s), plus the pace its own run marks.
    assert 0.2 + pace_less_gathering < sent_now <= 0.4 + pace_less_gathering + 1e-9
    # Found waiting: it may start any moment, and its successor waits out its mark.
    assert found_waiting == pytest.approx(pace_less_gathering)
    time.sleep(0.45)  # the mark ran out, the task is due and has not started
    assert kicks.ring_relay_covering("customers") == pytest.approx(pace_less_gathering)
    assert len(sent) == 1  # and it still waits: nothing more sent
    kicks.answer(TARGET, doorbells[0])  # it starts: a commit now needs a new task
    assert kicks.ring_relay_covering("customers") > 0.2 + pace_less_gathering
    assert len(sent) == 2


@pytest.mark.parametrize("pace", ["nan", "inf", "-1", "soon"])
def test_a_pace_that_is_no_finite_number_paces_nothing(
    doorbell: object, sent: list[tuple], settings, pace
) -> None:
    settings.EVENTS_KICK_PACE_SECONDS = pace
    kicks.clear(TARGET + ":ran")  # no run marked by another test
    kicks.answer(TARGET)  # marks nothing, and does not raise
    assert kicks._gather_seconds() == 0.0
    assert kicks.ring_relay_covering("customers") == 0.0


def test_a_ring_that_could_not_send_covers_nothing(sent: list[tuple], monkeypatch) -> None:
    monkeypatch.setattr(kicks, "_send", lambda *a, **k: False)
    assert kicks.ring_relay_covering("customers") == 0.0


def test_only_the_task_rung_for_opens_the_door(doorbell: object, sent: list[tuple]) -> None:
    kicks.ring_relay("customers")
    # Another run of the same target (the sweep's task, a delivery relaying its
    # own outbox) answers: the task rung for still waits, so nothing more is sent.
    kicks.answer(TARGET)
    kicks.answer(TARGET, "someone-else")
    kicks.ring_relay("customers")
    assert len(sent) == 1
    kicks.answer(TARGET, doorbells[0])
    kicks.ring_relay("customers")
    assert len(sent) == 2


def test_a_ring_soon_after_a_run_is_paced(
    doorbell: object, sent: list[tuple], settings, monkeypatch
) -> None:
    countdowns: list[float | None] = []
    monkeypatch.setattr(
        kicks, "_send", lambda *a, countdown=None, **k: countdowns.append(countdown) or True
    )
    settings.EVENTS_KICK_PACE_SECONDS = 0.5
    kicks.answer(TARGET)  # a run just now
    kicks.ring_relay("customers")
    settings.EVENTS_KICK_PACE_SECONDS = 0
    kicks.clear(TARGET)
    kicks.clear(TARGET + ":ran")
    kicks.ring_relay("customers")
    assert countdowns[0] is not None
    assert 0.3 < countdowns[0] <= 0.5
    assert countdowns[1] is None  # nothing ran lately: at once


def test_the_doorbell_is_the_broker_when_it_is_redis_unless_set_apart(settings) -> None:
    del settings.EVENTS_KICK_REDIS_URL
    settings.CELERY_BROKER_URL = "redis://broker.example:6379/0"
    assert kicks._redis_url() == "redis://broker.example:6379/0"
    settings.CELERY_BROKER_URL = "filesystem://"
    assert kicks._redis_url() is None
    settings.EVENTS_KICK_REDIS_URL = "redis://doorbell.example:6379/1"
    assert kicks._redis_url() == "redis://doorbell.example:6379/1"
    settings.CELERY_BROKER_URL = "redis://broker.example:6379/0"
    settings.EVENTS_KICK_REDIS_URL = ""  # none, though the broker is Redis
    assert kicks._redis_url() is None


def test_a_kick_that_could_not_be_sent_leaves_the_door_open(
    doorbell: object, sent: list[tuple], monkeypatch: pytest.MonkeyPatch
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
    doorbell: object, sent: list[tuple]
) -> None:
    from apps.events import tasks

    kicks.clear(kicks.deliver_target("customers"))
    kicks.ring_delivery("customers", module="customers")  # this task is lost, say
    tasks.kick_deliveries({"orders.OrderPlaced"}, coalesce=False)  # what the sweep does
    delivered = [args for task, _, args in sent if task == "events.deliver"]
    assert delivered.count(("customers",)) == 2
    kicks.clear(kicks.deliver_target("customers"))


def test_a_relays_rings_for_its_subscribers_take_one_round_trip(
    doorbell, sent: list[tuple], monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.events import tasks
    from apps.events.public.subscriptions import subscribers

    wanting = sorted(
        s.name for s in subscribers.all() if s.kicked and s.kicked_by({"orders.OrderPlaced"})
    )
    assert len(wanting) >= 2
    for name in wanting:
        kicks.clear(kicks.deliver_target(name))
    client = doorbell
    round_trips: list[int] = []
    pipeline = client.pipeline
    monkeypatch.setattr(client, "pipeline", lambda **k: round_trips.append(1) or pipeline(**k))
    tasks.kick_deliveries({"orders.OrderPlaced"})
    assert len(round_trips) == 1
    assert sorted(args[0] for task, _, args in sent if task == "events.deliver") == wanting
    for (_, _, (name,)), token in zip(sent, doorbells, strict=True):  # each task, its own flag
        assert client.get(kicks._key(kicks.deliver_target(name))).decode() == token
    tasks.kick_deliveries({"orders.OrderPlaced"})  # every door is held: nothing more is sent
    assert len(sent) == len(wanting)
    for name in wanting:
        kicks.clear(kicks.deliver_target(name))


def test_rings_whose_replies_were_lost_send_their_tasks_with_their_tokens(
    doorbell, sent: list[tuple], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flags may be set though the replies never came: only the tasks sent
    with their tokens can clear them, else they would hold the doors for the TTL."""
    client = doorbell
    pipeline = client.pipeline

    class RepliesLost:
        def __init__(self, **options: object) -> None:
            self.pipe = pipeline(**options)

        def __enter__(self) -> RepliesLost:
            return self

        def __exit__(self, *exc: object) -> None:
            self.pipe.reset()

        def __getattr__(self, name: str) -> object:
            return getattr(self.pipe, name)

        def execute(self) -> list:
            self.pipe.execute()  # the flags are set...
            raise ConnectionError("...but the replies are lost")

    monkeypatch.setattr(client, "pipeline", RepliesLost)
    kicks.ring_relay("customers")
    assert len(sent) == 1
    assert client.get(kicks._key(TARGET)).decode() == doorbells[0]
    kicks.answer(TARGET, doorbells[0])  # the task starts: the door opens
    assert client.get(kicks._key(TARGET)) is None


def test_a_ring_that_could_not_send_clears_only_its_own_flag(doorbell) -> None:
    client = doorbell
    key = kicks._key(TARGET)
    client.set(key, "newer", px=5000)  # set by another ring after ours expired
    kicks._forget(client, key, "ours")
    assert client.get(key).decode() == "newer"
    kicks._forget(client, key, "newer")
    assert client.get(key) is None


def test_a_subscriber_that_may_lag_is_kicked_by_the_sweep_only(sent: list[tuple]) -> None:
    from apps.events import tasks

    for name in ("events.type_stats", "tests.probe"):
        kicks.clear(kicks.deliver_target(name))
    tasks.kick_deliveries({"customers.ProbePinged"})
    after_relay = {args[0] for task, _, args in sent if task == "events.deliver"}
    sent.clear()
    tasks.kick_deliveries({"customers.ProbePinged"}, coalesce=False)
    after_sweep = {args[0] for task, _, args in sent if task == "events.deliver"}
    assert "tests.probe" in after_relay
    assert "events.type_stats" not in after_relay
    assert "events.type_stats" in after_sweep
    for name in ("events.type_stats", "tests.probe"):
        kicks.clear(kicks.deliver_target(name))


def test_a_task_that_found_its_target_busy_looks_again_no_sooner_than_the_floor(
    sent: list[tuple], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever holds the target (a long catch-up, a rebuild) is not polled flat out."""
    countdowns: list[float | None] = []
    monkeypatch.setattr(
        kicks, "_send", lambda *a, countdown=None, **k: countdowns.append(countdown) or True
    )
    kicks.ring_relay("customers", at_least=kicks.BUSY_RETRY_SECONDS)
    assert countdowns[0] is not None
    assert countdowns[0] >= kicks.BUSY_RETRY_SECONDS


class _RecordedRings:
    """The relay rings a ringer thread makes, with when each was made."""

    def __init__(self) -> None:
        self.rings: list[tuple[str, float]] = []
        self.failures_left = 0
        self.covers: object = True  # what each ring returns: a float is the seconds it covers

    def __call__(self, module: str, **_options: object) -> object:
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("redis is down")
        self.rings.append((module, time.monotonic()))
        return self.covers

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, float]]:
        deadline = time.monotonic() + timeout
        while len(self.rings) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.rings


@pytest.fixture
def ringer(settings) -> Iterator[tuple]:
    settings.EVENTS_KICK_PACE_SECONDS = 4.0  # asks are gathered for a second after a ring
    recorded = _RecordedRings()
    ringer = kicks._RelayRinger(ring=recorded)  # its own rings only, not the process's
    yield ringer, recorded
    ringer.close()


def test_an_ask_after_a_quiet_spell_is_rung_at_once(ringer: tuple) -> None:
    thread, recorded = ringer
    asked_at = time.monotonic()
    thread.ask("orders")
    [(module, rung_at)] = recorded.wait_for(1)
    assert module == "orders"
    assert rung_at - asked_at < 0.6  # not held for the gathering (1 s)


def test_asks_soon_after_a_ring_are_gathered_into_one_ring_per_module(ringer: tuple) -> None:
    thread, recorded = ringer
    thread.ask("orders")
    recorded.wait_for(1)
    for module in ("orders", "customers", "orders", "orders"):
        thread.ask(module)
    rings = recorded.wait_for(3)
    time.sleep(0.1)  # nothing more comes
    assert [module for module, _ in rings] == ["orders", "customers", "orders"]
    assert rings[1][1] - rings[0][1] >= 0.95  # held back for the gathering
    assert len(recorded.rings) == 3


def test_the_ringer_survives_a_failed_ring_and_rings_the_next_ask(ringer: tuple) -> None:
    thread, recorded = ringer
    recorded.failures_left = 1
    thread.ask("orders")  # fails: logged, the sweep would catch up
    time.sleep(0.1)
    thread.ask("orders")
    assert [module for module, _ in recorded.wait_for(1)] == ["orders"]


def test_a_pace_the_thread_cannot_sleep_gathers_nothing(ringer: tuple, settings) -> None:
    thread, recorded = ringer
    for pace in (-1.0, float("nan"), float("inf")):  # time.sleep refuses them all
        settings.EVENTS_KICK_PACE_SECONDS = pace
        thread.ask("orders")
        time.sleep(0.1)
    thread.ask("customers")
    assert [module for module, _ in recorded.wait_for(4)] == [
        "orders", "orders", "orders", "customers",
    ]  # fmt: skip


def test_a_ring_that_covers_a_while_holds_that_modules_next_ring_that_long(
    ringer: tuple, settings
) -> None:
    thread, recorded = ringer
    settings.EVENTS_KICK_PACE_SECONDS = 0.0  # no gathering: only the cover holds rings back
    recorded.covers = 0.5  # another ring would buy nothing for that long
    thread.ask("orders")
    recorded.wait_for(1)
    thread.ask("orders")
    thread.ask("customers")  # covered by nothing: rung at once
    rings = recorded.wait_for(3)
    assert [module for module, _ in rings] == ["orders", "customers", "orders"]
    assert rings[1][1] - rings[0][1] < 0.3
    assert rings[2][1] - rings[0][1] >= 0.45


def test_asks_for_a_covered_module_do_not_wake_the_thread(ringer: tuple, settings) -> None:
    """Every placement asks: waking the thread for each would cost the placing
    process a thread switch per order (2.6 per order, measured)."""
    thread, recorded = ringer
    settings.EVENTS_KICK_PACE_SECONDS = 0.0
    recorded.covers = 1.0
    thread.ask("orders")
    recorded.wait_for(1)
    looks = []
    due = thread._due
    thread._due = lambda: looks.append(1) or due()
    for _ in range(50):  # a placement every few milliseconds, well within the cover
        thread.ask("orders")
        time.sleep(0.003)
    rings = recorded.wait_for(2)
    assert len(rings) == 2  # rung once the cover ran out
    # Woken by the first ask and at the cover's end (four looks at most), not by each.
    assert len(looks) <= 6


def test_a_nonsense_cover_covers_nothing_and_a_long_one_is_capped(
    ringer: tuple, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread, recorded = ringer
    settings.EVENTS_KICK_PACE_SECONDS = 0.0
    died: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(args.exc_value))
    for cover in (float("nan"), -1.0, float("inf")):
        recorded.covers = cover
        count = len(recorded.rings)
        thread.ask("orders")
        recorded.wait_for(count + 1)
        thread.ask("orders")
        rings = recorded.wait_for(count + 2, timeout=3.0)
        assert len(rings) == count + 2, cover
        waited = rings[-1][1] - rings[-2][1]
        assert waited < 0.3 if cover != float("inf") else 0.9 <= waited < 1.5, (cover, waited)
    assert died == []  # one thread rang it all


def test_what_is_still_asked_for_at_exit_is_rung_in_place(ringer: tuple) -> None:
    thread, recorded = ringer
    thread.ask("orders")
    recorded.wait_for(1)
    thread.ask("customers")  # within the gathering: not rung yet
    thread.ring_now()  # what atexit does
    assert [module for module, _ in recorded.rings] == ["orders", "customers"]


def test_a_subscriber_with_a_pace_of_its_own_is_paced_by_it(
    doorbell: object, sent: list[tuple], settings, monkeypatch
) -> None:
    countdowns: list[float | None] = []
    monkeypatch.setattr(
        kicks, "_send", lambda *a, countdown=None, **k: countdowns.append(countdown) or True
    )
    settings.EVENTS_KICK_PACE_SECONDS = 0.02
    kicks.answer(TARGET, pace=1.0)  # a run of a read model paced at a second
    kicks.ring_relay("customers")
    kicks.clear(TARGET + ":ran")
    assert countdowns[0] is not None
    assert 0.8 < countdowns[0] <= 1.0


def test_the_order_history_runs_at_a_slower_pace_than_the_sagas() -> None:
    from apps.events.public.subscriptions import subscribers

    assert subscribers.get("customers.order_history").pace == 0.15
    assert subscribers.get("customers").pace is None  # the credit check: the default


def test_a_pace_the_doorbell_flag_does_not_outlive_is_refused(settings) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from apps.events.public.subscriptions import projection

    settings.EVENTS_KICK_TTL_SECONDS = 5.0
    for pace in (5.0, -0.1):
        with pytest.raises(ImproperlyConfigured, match="pace"):
            projection("tests.paced", module="events", reset=lambda: None, pace=pace)


def test_a_delivery_task_answers_with_its_subscriber_s_pace(monkeypatch) -> None:
    from apps.events import tasks
    from apps.events.services.delivery import DeliveryReport

    answered: list[tuple] = []
    monkeypatch.setattr(
        kicks, "answer", lambda target, doorbell, pace=None: answered.append((target, pace))
    )
    caught_up = DeliveryReport(subscriber="customers.order_history", position=0, caught_up=True)
    monkeypatch.setattr(tasks, "subscriber_deliver", lambda **_: caught_up)
    tasks.deliver("customers.order_history")
    assert answered == [("deliver:customers.order_history", 0.15)]


def test_a_delivery_task_for_a_subscriber_it_does_not_know_still_opens_the_door(
    monkeypatch,
) -> None:
    from apps.events import tasks

    answered: list[str] = []
    monkeypatch.setattr(
        kicks, "answer", lambda target, doorbell, pace=None: answered.append(target)
    )
    with pytest.raises(KeyError):
        tasks.deliver("customers.renamed_later")
    assert answered == ["deliver:customers.renamed_later"]


def test_a_commit_in_a_worker_process_rings_in_place_elsewhere_the_thread_rings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rung: list[str] = []
    asked: list[str] = []
    monkeypatch.setattr(kicks, "ring_relay", lambda module, **_: rung.append(module))
    monkeypatch.setattr(kicks._relay_ringer, "ask", asked.append)
    monkeypatch.setattr(kicks, "_in_worker", False)  # restored after the test
    kicks.ring_relay_soon("customers")  # a web process, a management command
    assert (rung, asked) == ([], ["customers"])
    kicks._ring_in_place()  # Celery's worker_init, or worker_process_init
    kicks.ring_relay_soon("orders")
    assert (rung, asked) == (["orders"], ["customers"])
    # Wired to both: a spawned pool process imports this module afresh.
    for signal in (signals.worker_init, signals.worker_process_init):
        assert kicks._ring_in_place in signal._live_receivers(None)
