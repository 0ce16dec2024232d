"""Group handlers and buffered publications: a batch in a few statements, same results."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from django.db import transaction

from apps.events.public import Envelope, publish, replying_to, subscribers
from apps.events.public.publishing import publications_buffered, publications_flush
from apps.events.public.records import outbox_models
from apps.events.selectors import store_find
from apps.events.services import outbox_relay, subscriber_deliver
from tests.events.probe import MODULE, ProbeEchoed, ProbeMeasured, ProbePinged

ALL = "__all__"
GROUPED = "tests.grouped"


def outbox_types() -> list[str]:
    outbox = outbox_models()[MODULE].objects.using(MODULE)
    return list(outbox.order_by("id").values_list("type", flat=True))


def outbox_keys() -> list[str]:
    outbox = outbox_models()[MODULE].objects.using(MODULE)
    return [row["key"] for row in outbox.order_by("id").values_list("payload", flat=True)]


def publish_then_fail(key: str) -> None:
    with transaction.atomic(using=MODULE):
        publish(ProbePinged(key=key), source=MODULE)
        raise RuntimeError("rolls back")


@pytest.mark.django_db(databases=ALL)
def test_buffered_publications_are_written_in_order_and_a_rolled_back_savepoint_drops_its_own() -> (
    None
):
    with transaction.atomic(using=MODULE), publications_buffered(MODULE):
        publish(ProbePinged(key="first"), source=MODULE)
        with pytest.raises(RuntimeError):
            publish_then_fail("rolled-back")  # in a savepoint
        with transaction.atomic(using=MODULE):
            publish(ProbePinged(key="kept-savepoint"), source=MODULE)
        publish(ProbePinged(key="last"), source=MODULE)
        assert outbox_keys() == []  # nothing written yet: one INSERT at the flush
        assert publications_flush(MODULE) == 3
    assert outbox_keys() == ["first", "kept-savepoint", "last"]


@pytest.mark.django_db(databases=ALL)
def test_buffered_publications_vanish_with_a_rolled_back_transaction() -> None:
    with pytest.raises(RuntimeError), publications_buffered(MODULE):
        publish_then_fail("never")  # the outermost transaction
    assert outbox_keys() == []


@pytest.fixture
def grouped() -> Iterator[list[tuple[str, ...]]]:
    """A subscriber with a group handler for pings and measurements, and a
    per-message handler for echoes; it records each call and answers each ping."""
    calls: list[tuple[str, ...]] = []
    subscriber = subscribers.declare(GROUPED, module=MODULE, publishes=True)

    @subscriber.handles_many(ProbePinged, ProbeMeasured)
    def on_run(envelopes: Sequence[Envelope]) -> None:
        calls.append(tuple(e.payload["key"] for e in envelopes))
        for envelope in envelopes:
            if envelope.type == ProbePinged.message_type and envelope.payload["echo"]:
                reply = ProbeEchoed(key=envelope.payload["key"])
                publish(reply, source=MODULE, context=replying_to(envelope))

    @subscriber.handles(ProbeEchoed)
    def on_echo(message: ProbeEchoed, envelope: Envelope) -> None:
        calls.append(("echo", message.key))

    yield calls
    subscribers._subscribers.pop(GROUPED)


@pytest.mark.django_db(databases=ALL)
def test_a_group_handler_gets_runs_of_its_types_in_store_order(
    grouped: list[tuple[str, ...]],
) -> None:
    with transaction.atomic(using=MODULE):
        publish(ProbePinged(key="p1"), source=MODULE)
        publish(ProbeMeasured(key="m1", value=1.0), source=MODULE)
        publish(ProbePinged(key="p2"), source=MODULE)
        publish(ProbeEchoed(key="e1"), source=MODULE)
        publish(ProbePinged(key="p3"), source=MODULE)
    outbox_relay(module=MODULE)

    report = subscriber_deliver(name=GROUPED)

    assert report.handled == 5
    assert grouped == [("p1", "m1", "p2"), ("echo", "e1"), ("p3",)]


@pytest.mark.django_db(databases=ALL)
def test_each_reply_of_a_group_handler_names_its_own_cause(grouped: list) -> None:
    pings = []
    for key in ("x", "y"):  # two sagas: two correlation ids
        with transaction.atomic(using=MODULE):
            pings.append(publish(ProbePinged(key=key, echo=True), source=MODULE))
    outbox_relay(module=MODULE)

    subscriber_deliver(name=GROUPED)
    outbox_relay(module=MODULE)

    echoes = {e.payload["key"]: e for e in store_find(message_type=ProbeEchoed.message_type)}
    for ping in pings:
        echo = echoes[ping.aggregate_id]
        assert echo.causation_id == ping.message_id
        assert echo.correlation_id == ping.correlation_id
    assert pings[0].correlation_id != pings[1].correlation_id
