"""Guarantees 3 (exactly-once effect), 4 (order) and 7 (poison messages)."""

from __future__ import annotations

import threading
import time
from typing import ClassVar

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connections, transaction
from pydantic import field_validator

from apps.events.public import Event, Subscriber, publish, subscribers
from apps.events.public.records import checkpoint_models, parked_models
from apps.events.selectors import store_count_after, store_head, store_read_after
from apps.events.services import outbox_relay, parked_retry, subscriber_deliver
from apps.events.testing import drain
from tests.events import probe
from tests.events.conftest import owner_connection
from tests.events.probe import MODULE, ProbePinged

ALL = "__all__"


def ping(*keys: str, echo: bool = False) -> None:
    with transaction.atomic(using=MODULE):
        for key in keys:
            publish(ProbePinged(key=key, echo=echo), source=MODULE)
    outbox_relay(module=MODULE)


def checkpoint(name: str = "tests.probe"):
    return checkpoint_models()[MODULE].objects.using(MODULE).filter(subscriber=name).first()


def parked(name: str = "tests.probe") -> list:
    return list(parked_models()[MODULE].objects.using(MODULE).filter(subscriber=name))


@pytest.mark.django_db(databases=ALL)
def test_a_subscriber_applies_each_message_once_and_moves_its_checkpoint() -> None:
    ping("a", "b")
    report = subscriber_deliver(name="tests.probe")
    assert report.handled == 2
    assert [key for key, _, _ in probe.effects()] == ["a", "b"]
    assert checkpoint().position == store_head()


@pytest.mark.django_db(databases=ALL)
def test_a_delivery_starts_no_batch_past_its_time_budget_and_says_it_is_not_done() -> None:
    # A task's budget, well inside its soft time limit: a long catch-up goes on
    # in the next task instead of being cut in the middle of a batch.
    ping("a", "b", "c", "d", "e")
    report = subscriber_deliver(name="tests.probe", batch_size=2, time_budget=0)
    assert report.handled == 2  # one batch, then the budget was spent
    assert not report.caught_up
    assert subscriber_deliver(name="tests.probe", batch_size=2).handled == 3


@pytest.mark.django_db(databases=ALL)
def test_a_handler_that_raises_after_writing_commits_nothing(fast_retries: None) -> None:
    ping("ok-before")
    subscriber_deliver(name="tests.probe")
    before = checkpoint().position
    probe.FAILING.add("boom")
    ping("boom")

    report = subscriber_deliver(name="tests.probe")

    assert report.waiting
    assert report.handled == 0
    assert probe.effects("boom") == []  # its write was rolled back
    assert checkpoint().position == before  # and the checkpoint did not move
    assert checkpoint().attempts == 1
    assert "probe failure for boom" in checkpoint().last_error

    probe.FAILING.clear()  # the cause is fixed
    report = subscriber_deliver(name="tests.probe")
    assert report.handled == 1
    assert len(probe.effects("boom")) == 1
    assert checkpoint().attempts == 0


@pytest.mark.django_db(databases=ALL)
def test_a_failing_message_waits_for_its_backoff(settings) -> None:
    settings.EVENTS_RETRY_BASE_SECONDS = 60
    probe.FAILING.add("slow")
    ping("slow")
    first = subscriber_deliver(name="tests.probe")
    assert first.waiting
    assert first.retry_in == pytest.approx(60)
    probe.FAILING.clear()
    again = subscriber_deliver(name="tests.probe")
    assert again.waiting  # not before its time
    assert again.handled == 0
    assert probe.effects("slow") == []


@pytest.mark.django_db(databases=ALL)
def test_delivering_again_changes_nothing() -> None:
    ping("once")
    subscriber_deliver(name="tests.probe")
    position = checkpoint().position
    for _ in range(3):  # a redelivered task, a sweep, a second worker
        report = subscriber_deliver(name="tests.probe")
        assert report.handled == 0
        assert report.caught_up
    assert len(probe.effects("once")) == 1
    assert checkpoint().position == position


@pytest.mark.django_db(databases=ALL)
def test_a_poison_message_is_parked_and_later_messages_go_on(fast_retries: None) -> None:
    probe.FAILING.add("poison")
    ping("poison", "after")
    for attempt in range(1, 3):
        report = subscriber_deliver(name="tests.probe")
        assert report.waiting
        assert checkpoint().attempts == attempt
        assert probe.effects("after") == []  # order: nothing overtakes the failing message
    report = subscriber_deliver(name="tests.probe")  # third attempt: parked
    assert report.parked == 1
    assert report.handled == 1
    (parked_message,) = parked()
    assert (parked_message.type, parked_message.attempts) == ("customers.ProbePinged", 3)
    assert "probe failure for poison" in parked_message.error
    assert [key for key, _, _ in probe.effects()] == ["after"]

    assert parked_retry(subscriber="tests.probe").failed == 1  # still broken: stays parked
    assert len(parked()) == 1
    probe.FAILING.clear()  # fixed
    assert parked_retry(subscriber="tests.probe").applied == 1
    assert parked() == []
    assert parked_retry(subscriber="tests.probe").applied == 0  # never twice
    assert [key for key, _, _ in probe.effects()] == ["after", "poison"]


@pytest.mark.django_db(databases=ALL)
def test_the_retry_parked_command(fast_retries: None, capsys: pytest.CaptureFixture) -> None:
    probe.FAILING.add("p")
    ping("p")
    for _ in range(3):
        subscriber_deliver(name="tests.probe")
    probe.FAILING.clear()
    call_command("retry_parked", "--subscriber", "tests.probe")
    assert "applied 1, still failing 0" in capsys.readouterr().out
    assert len(probe.effects("p")) == 1


@pytest.mark.django_db(databases=ALL)
def test_a_handler_publishes_in_the_same_transaction_with_causation() -> None:
    ping("echo", echo=True)
    drain()
    from apps.events.selectors import store_find

    (pinged,) = store_find(message_type="customers.ProbePinged")
    (echoed,) = store_find(message_type="customers.ProbeEchoed")
    assert echoed.causation_id == pinged.message_id
    assert echoed.correlation_id == pinged.correlation_id


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_a_write_that_commits_late_is_never_skipped(clean_bus: None, django_db_setup: str) -> None:
    """Two store transactions commit out of position order: impossible, by the
    store's single-writer trigger, so a subscriber reading in between skips nothing."""
    late = owner_connection(django_db_setup)
    late.autocommit = False
    late.execute(
        "INSERT INTO events.stored_event (message_id, type, version, source, occurred_at,"
        " aggregate_id, correlation_id, payload) VALUES (gen_random_uuid(),"
        " 'customers.ProbePinged', 2, 'customers', now(), 'late', gen_random_uuid(),"
        ' \'{"key": "late"}\')'
    )  # position taken, not yet committed
    with transaction.atomic(using=MODULE):
        publish(ProbePinged(key="early"), source=MODULE)

    relay = threading.Thread(target=outbox_relay, kwargs={"module": MODULE})
    relay.start()
    time.sleep(0.5)
    assert relay.is_alive(), "a second writer must wait for the first one's commit"

    subscriber_deliver(name="tests.probe")  # reads while both are in flight
    assert probe.effects() == []

    late.commit()
    relay.join(timeout=10)
    assert not relay.is_alive()
    subscriber_deliver(name="tests.probe")
    assert sorted(key for key, _, _ in probe.effects()) == ["early", "late"]
    positions = {key: position for key, _, position in probe.effects()}
    assert positions["late"] < positions["early"]
    late.close()


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_the_store_refuses_update_delete_and_truncate_to_every_role(
    clean_bus: None, django_db_setup: str
) -> None:
    from django.conf import settings

    from project.provisioning import conninfo
    from project.topology import TERRITORIES

    ping("history")  # committed: the store holds a row to try to change
    statements = [
        "UPDATE events.stored_event SET aggregate_id = 'rewritten'",
        "DELETE FROM events.stored_event",
        "TRUNCATE events.stored_event",
    ]
    # Every module role, `platform`, `events_role` (the table's owner) and the
    # provisioning owner, a superuser here, whom only the trigger stops.
    logins = [settings.DATABASES[t.alias] for t in TERRITORIES] + [settings.DATABASE_OWNER]
    for config in logins:
        with psycopg.connect(conninfo(config, dbname=django_db_setup)) as conn:
            for statement in statements:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
                conn.rollback()
    from apps.events.selectors import store_find

    assert [e.aggregate_id for e in store_find(message_type="customers.ProbePinged")] == ["history"]


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_the_in_flight_marker_is_committed_before_the_batch_runs_without_a_lasting_setting(
    clean_bus: None, django_db_setup: str
) -> None:
    """Guarantee 7 needs the marker visible to the next delivery should this one
    die; it is committed without waiting for the disk, for its statement only."""
    seen: list[int | None] = []

    def look(message: ProbePinged, envelope) -> None:
        with owner_connection(django_db_setup) as conn:
            row = conn.execute(
                "SELECT inflight_position FROM customers.customers_checkpoint"
                " WHERE subscriber = 'tests.probe'"
            ).fetchone()
        seen.append(row[0])

    ping("first", "second")
    first = store_head() - 1
    probe.WATCHERS.append(look)
    try:
        subscriber_deliver(name="tests.probe")
    finally:
        probe.WATCHERS.remove(look)
    assert seen == [first, first]  # committed, seen from another connection, mid-batch
    assert checkpoint().inflight_position is None  # and cleared with the batch
    with connections[MODULE].cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"  # the session's own commits still wait


@pytest.mark.django_db(databases=ALL)
def test_a_read_looks_a_window_ahead_and_delivery_walks_past_windows_it_wants_nothing_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from apps.events import selectors
    from tests.events.probe import ProbeEchoed

    ping("before")
    subscriber_deliver(name="tests.probe")
    start = checkpoint().position
    with transaction.atomic(using=MODULE):  # seven messages the probe does not read
        for i in range(7):
            publish(ProbeEchoed(key=f"other-{i}"), source=MODULE)
    ping("after")
    monkeypatch.setattr(selectors, "STORE_READ_WINDOW_BATCHES", 1)
    monkeypatch.setattr(selectors, "STORE_READ_WINDOW_MIN", 3)

    first = selectors.store_read_after(position=start, limit=2, types=["customers.ProbePinged"])
    assert first.envelopes == []  # nothing it wants in the first three positions
    assert (first.seen_to, first.complete) == (start + 3, False)
    assert first.head == store_head()

    one_batch = subscriber_deliver(name="tests.probe", batch_size=2, max_batches=1)
    assert not one_batch.caught_up  # one window on: the head is further
    assert checkpoint().position == start + 3
    report = subscriber_deliver(name="tests.probe", batch_size=2)
    assert report.caught_up
    assert report.handled == 1
    assert [key for key, _, _ in probe.effects("after")] == ["after"]
    assert checkpoint().position == store_head()


@pytest.mark.django_db(databases=ALL)
def test_only_if_set_leaves_messages_with_the_field_empty_unread_but_older_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from apps.events.public.records import outbox_models

    seen: list[str] = []
    noted = Subscriber(name="tests.noted", module=MODULE)
    monkeypatch.setitem(subscribers._subscribers, noted.name, noted)
    noted.handles(ProbePinged, only_if_set="note")(lambda message, _: seen.append(message.key))
    outbox = outbox_models()[MODULE]._meta.db_table
    with transaction.atomic(using=MODULE):
        publish(ProbePinged(key="blank"), source=MODULE)  # note ""
        publish(ProbePinged(key="noted", note="hi"), source=MODULE)
        with connections[MODULE].cursor() as cursor:  # a v1 message: `text`, no `note`
            cursor.execute(
                f"INSERT INTO {outbox} (message_id, type, version, occurred_at, aggregate_id,"
                " correlation_id, payload) VALUES (gen_random_uuid(), 'customers.ProbePinged',"
                ' 1, now(), \'old\', gen_random_uuid(), \'{"key": "old", "text": "v1"}\')'
            )
    outbox_relay(module=MODULE)

    report = subscriber_deliver(name="tests.noted")

    assert seen == ["noted", "old"]  # the v1 one is left to the handler (upcast: note "v1")
    assert report.handled == 2
    assert report.caught_up
    assert checkpoint("tests.noted").position == store_head()


class ProbeDefaulted(Event):
    message_type: ClassVar[str] = "customers.ProbeDefaulted"
    aggregate_field: ClassVar[str] = "key"

    key: str
    label: str = "none given"  # missing in the store, yet not empty once decoded


class ProbeFilledIn(Event):
    message_type: ClassVar[str] = "customers.ProbeFilledIn"
    aggregate_field: ClassVar[str] = "key"

    key: str
    label: str | None = None

    @field_validator("label")
    @classmethod
    def _fill_in(cls, value: str | None) -> str:
        return value or "filled in"


def test_only_if_set_names_a_field_that_decodes_empty_when_the_store_says_empty() -> None:
    def handler(message: object, envelope: object) -> None:
        pass

    refused = [
        (ProbePinged, "echo"),  # a bool
        (ProbePinged, "nothing"),  # no such field
        (ProbeDefaulted, "label"),  # a default that is not empty
        (ProbeFilledIn, "label"),  # a validator may fill it in
    ]
    for message_class, field_name in refused:
        with pytest.raises(ImproperlyConfigured, match="only_if_set"):
            Subscriber(name="tests.misnamed", module=MODULE).handles(
                message_class, only_if_set=field_name
            )(handler)
    twice = Subscriber(name="tests.twice", module=MODULE)
    twice.handles(ProbePinged, only_if_set="note")(handler)
    with pytest.raises(ImproperlyConfigured, match="two different only_if_set"):
        twice.handles(ProbePinged)(handler)


def test_the_bookings_saga_reads_order_events_with_an_origin_only() -> None:
    bookings = subscribers.get("bookings")
    skipped = {message_type for message_type, _, field in bookings.skips_unset()}
    assert skipped == {
        "orders.OrderPlaced", "orders.OrderApproved", "orders.OrderRejected",
        "orders.OrderCancelled",
    }  # fmt: skip
    assert {field for _, _, field in bookings.skips_unset()} == {"origin"}


@pytest.mark.django_db(databases=ALL)
def test_a_null_field_is_empty_to_the_store_query() -> None:
    from apps.orders.public.messages import OrderApproved

    start = store_head()
    with transaction.atomic(using="orders"):
        for order_id, origin in (("o-store", None), ("o-booking", "b-1"), ("o-blank", "")):
            approved = OrderApproved(order_id=order_id, customer_id="c", total="1", origin=origin)
            publish(approved, source="orders")
    outbox_relay(module="orders")

    read = store_read_after(
        position=start,
        limit=10,
        types=["orders.OrderApproved"],
        skip_unset=subscribers.get("bookings").skips_unset(),
    )
    assert [e.message().order_id for e in read.envelopes] == ["o-booking"]
    assert (
        store_count_after(
            position=start,
            types=["orders.OrderApproved"],
            skip_unset=subscribers.get("bookings").skips_unset(),
        )
        == 1
    )


def test_a_relay_wakes_a_subscriber_with_only_if_set_only_for_a_message_it_reads() -> None:
    bookings = subscribers.get("bookings")
    assert bookings.kicked_by({"ticketing.SeatsHeld"})  # no filter on that type
    assert not bookings.kicked_by({"orders.OrderPlaced"})  # the online store's orders
    assert bookings.kicked_by({"orders.OrderPlaced", "orders.OrderPlaced?origin"})
    customers = subscribers.get("customers")
    assert customers.kicked_by({"orders.OrderPlaced"})  # reads them all


@pytest.mark.django_db(databases=ALL)
def test_the_relay_says_which_fields_read_with_only_if_set_it_moved_set() -> None:
    from apps.events.services import outbox_relay_pass
    from apps.orders.public.messages import OrderApproved, OrderRejected

    def relay(*approved: OrderApproved) -> set[str]:
        with transaction.atomic(using="orders"):
            for message in approved:
                publish(message, source="orders")
        seen: set[str] = set()
        outbox_relay_pass(module="orders", seen_types=seen)
        return seen

    # Text that COPY escapes (a backslash, a tab, a newline, a quote) must not
    # keep the relay from reading the payload.
    awkward = 'c\\d\t"e"\nf'
    store_orders = [
        OrderApproved(order_id="o-1", customer_id=awkward, total="1", origin=None),
        OrderApproved(order_id="o-2", customer_id="c", total="1", origin=""),
    ]
    assert relay(*store_orders) == {"orders.OrderApproved"}
    booked = OrderApproved(order_id="o-3", customer_id=awkward, total="1", origin="b-1")
    assert relay(booked, *store_orders) == {"orders.OrderApproved", "orders.OrderApproved?origin"}
    rejected = OrderRejected(order_id="o-4", customer_id="c", reason="INSUFFICIENT_CREDIT")
    assert relay(rejected) == {"orders.OrderRejected"}
