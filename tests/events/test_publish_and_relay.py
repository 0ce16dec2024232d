"""Guarantee 1 (atomic publish) and the relay's exactly-one copy in the store."""

from __future__ import annotations

import uuid

import pytest
from django.db import DataError, connections, transaction
from django.db.transaction import TransactionManagementError

from apps.events import services
from apps.events.public import (
    Envelope,
    MessageContext,
    MessageError,
    PublishOutsideTransaction,
    message_context,
    publish,
    publishing_in_statement,
)
from apps.events.public.records import outbox_models
from apps.events.selectors import store_find, store_head, store_read_after
from apps.events.services import outbox_relay, relay
from tests.events.probe import MODULE, ProbeEchoed, ProbePinged, ProbeShip

ALL = "__all__"


def outbox_rows() -> list:
    return list(outbox_models()[MODULE].objects.using(MODULE).order_by("id"))


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_publish_outside_a_transaction_raises(clean_bus: None) -> None:
    with pytest.raises(PublishOutsideTransaction, match=r"transaction\.atomic"):
        publish(ProbePinged(key="k"), source=MODULE)
    assert outbox_rows() == []


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_publish_in_a_transaction_on_another_alias_still_raises(clean_bus: None) -> None:
    with transaction.atomic(using="default"), pytest.raises(PublishOutsideTransaction):
        publish(ProbePinged(key="k"), source=MODULE)


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_a_rolled_back_transaction_leaves_no_outbox_row(clean_bus: None) -> None:
    def change_that_fails_after_publishing() -> None:
        with transaction.atomic(using=MODULE):
            publish(ProbePinged(key="k"), source=MODULE)
            assert len(outbox_rows()) == 1
            raise RuntimeError("the change fails after publishing")

    with pytest.raises(RuntimeError, match="fails after publishing"):
        change_that_fails_after_publishing()
    assert outbox_rows() == []

    with transaction.atomic(using=MODULE):
        publish(ProbePinged(key="kept"), source=MODULE)
    assert [row.payload["key"] for row in outbox_rows()] == ["kept"]


@pytest.mark.django_db(databases=ALL)
def test_the_envelope_carries_correlation_and_causation() -> None:
    correlation, cause = uuid.uuid4(), uuid.uuid4()
    with (
        message_context(MessageContext(correlation_id=correlation, causation_id=cause)),
        transaction.atomic(using=MODULE),
    ):
        envelope = publish(ProbePinged(key="k1"), source=MODULE)
    row = outbox_rows()[-1]
    assert (row.correlation_id, row.causation_id) == (correlation, cause)
    assert (row.type, row.version, row.aggregate_id) == ("customers.ProbePinged", 2, "k1")
    assert row.message_id == envelope.message_id


@pytest.mark.django_db(databases=ALL)
def test_an_event_is_published_only_by_its_own_module() -> None:
    with transaction.atomic(using="orders"), pytest.raises(MessageError, match="only"):
        publish(ProbeEchoed(key="k"), source="orders")


@pytest.mark.django_db(databases=ALL)
def test_any_module_may_send_a_command() -> None:
    with transaction.atomic(using=MODULE):
        publish(ProbeShip(key="k"), source=MODULE)
    assert outbox_rows()[-1].type == "orders.ProbeShip"


@pytest.mark.django_db(databases=ALL)
def test_the_relay_moves_the_outbox_into_the_store_in_order() -> None:
    before = store_head()
    with transaction.atomic(using=MODULE):
        sent = [publish(ProbePinged(key=f"k{i}"), source=MODULE) for i in range(5)]
    assert outbox_relay(module=MODULE, batch_size=2) == 5
    read = store_read_after(position=before, limit=100)
    stored = read.envelopes
    assert [e.message_id for e in stored] == [e.message_id for e in sent]
    assert read.head == read.seen_to == stored[-1].position
    assert outbox_rows() == []
    assert stored[0].message() == ProbePinged(key="k0")


@pytest.mark.django_db(databases=ALL)
def test_a_crash_between_store_insert_and_outbox_delete_leaves_one_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with transaction.atomic(using=MODULE):
        sent = publish(ProbePinged(key="crash"), source=MODULE)

    def crash(**_kwargs: object) -> None:
        raise RuntimeError("the relay process dies here")

    monkeypatch.setattr(relay, "_outbox_clear", crash)
    with pytest.raises(RuntimeError, match="dies here"):
        outbox_relay(module=MODULE)
    assert len(store_find(message_type="customers.ProbePinged")) == 1
    assert len(outbox_rows()) == 1  # the outbox was not cleared

    monkeypatch.undo()
    assert outbox_relay(module=MODULE) == 1  # the next relay goes over it again...
    copies = [e for e in store_find(message_type="customers.ProbePinged")]
    assert [e.message_id for e in copies] == [sent.message_id]  # ...and the store keeps one
    assert outbox_rows() == []


@pytest.mark.django_db(databases=ALL)
def test_relaying_twice_is_harmless() -> None:
    with transaction.atomic(using=MODULE):
        publish(ProbePinged(key="twice"), source=MODULE)
    assert outbox_relay(module=MODULE) == 1
    assert outbox_relay(module=MODULE) == 0
    assert len(store_find(message_type="customers.ProbePinged")) == 1


@pytest.mark.django_db(databases=ALL)
def test_retention_keeps_relayed_rows_then_sweeps_them(settings) -> None:
    settings.EVENTS_OUTBOX_RETENTION_SECONDS = 3600
    with transaction.atomic(using=MODULE):
        publish(ProbePinged(key="kept"), source=MODULE)
    assert outbox_relay(module=MODULE) == 1
    (row,) = outbox_rows()
    assert row.relayed_at is not None
    assert outbox_relay(module=MODULE) == 0  # relayed rows are not sent again
    assert services.outbox_retention_sweep() == 0
    settings.EVENTS_OUTBOX_RETENTION_SECONDS = 0.000001
    assert services.outbox_retention_sweep() == 1
    assert outbox_rows() == []


def publish_in_statement(key: str, statement: str = "{outbox}") -> Envelope:
    with (
        publishing_in_statement(ProbePinged(key=key), source=MODULE) as outbox,
        connections[MODULE].cursor() as cursor,
    ):
        cursor.execute(statement.format(outbox=outbox.sql), outbox.params)
    return outbox.envelope


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_publishing_in_a_statement_commits_with_it_or_not_at_all(clean_bus: None) -> None:
    """The hot path's form of guarantee 1: the outbox INSERT is part of the
    statement that makes the change (a CTE), in autocommit."""
    envelope = publish_in_statement("one")
    assert [row.payload["key"] for row in outbox_rows()] == ["one"]
    assert outbox_rows()[0].message_id == envelope.message_id

    # The statement fails after the INSERT ran (a division by zero): no message.
    failing = "WITH written AS ({outbox} RETURNING id) SELECT 1 / (count(*) - 1) FROM written"
    with pytest.raises(DataError, match="division by zero"):
        publish_in_statement("two", failing)
    assert [row.payload["key"] for row in outbox_rows()] == ["one"]


def publish_then_fail(key: str) -> None:
    with transaction.atomic(using=MODULE):
        publish_in_statement(key)
        raise RuntimeError(key)


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_the_relay_is_rung_once_a_publication_has_committed(clean_bus: None, monkeypatch) -> None:
    """In autocommit the statement has committed when the block ends: rung at
    once. In a transaction: once, after the commit, however many it published;
    a rolled-back transaction rings nothing."""
    from apps.events import kicks

    rung: list[str] = []
    monkeypatch.setattr(kicks, "ring_relay_soon", rung.append)

    publish_in_statement("autocommit")
    assert rung == [MODULE]

    with transaction.atomic(using=MODULE):
        publish_in_statement("in a transaction")
        publish(ProbePinged(key="and another"), source=MODULE)
        assert rung == [MODULE]  # not yet: nothing has committed
    assert rung == [MODULE, MODULE]

    with pytest.raises(RuntimeError):
        publish_then_fail("rolled back")
    assert rung == [MODULE, MODULE]

    with transaction.atomic(using=MODULE):
        with pytest.raises(RuntimeError):
            publish_then_fail("in a rolled-back savepoint")  # a savepoint here
        assert connections[MODULE].run_on_commit == []  # its kick went with it
        publish_in_statement("after the savepoint")
    assert rung == [MODULE, MODULE, MODULE]

    # A statement that fails in autocommit published nothing: nothing is rung.
    failing = "WITH written AS ({outbox} RETURNING id) SELECT 1 / (count(*) - 1) FROM written"
    with pytest.raises(DataError):
        publish_in_statement("failed", failing)
    assert rung == [MODULE, MODULE, MODULE]
    assert [row.payload["key"] for row in outbox_rows()] == [
        "autocommit", "in a transaction", "and another", "after the savepoint",
    ]  # fmt: skip


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_publishing_in_a_statement_under_manual_transactions_is_refused(
    clean_bus: None, monkeypatch
) -> None:
    """Autocommit off outside an atomic block: nothing has committed when the
    statement returns, so nothing may be rung; as Django's on_commit, it raises."""
    from apps.events import kicks

    rung: list[str] = []
    monkeypatch.setattr(kicks, "ring_relay_soon", rung.append)
    connection = connections[MODULE]
    connection.set_autocommit(False)
    try:
        with pytest.raises(TransactionManagementError):
            publish_in_statement("manual")
        assert rung == []
    finally:
        connection.rollback()
        connection.set_autocommit(True)
    assert outbox_rows() == []


@pytest.mark.django_db(databases=ALL)
def test_publishing_in_a_statement_checks_like_publish() -> None:
    with pytest.raises(MessageError, match="only"):  # noqa: SIM117
        with publishing_in_statement(ProbeEchoed(key="k"), source="orders"):
            pass


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_a_caller_that_relays_itself_is_told_whether_it_owes_a_relay(clean_bus: None) -> None:
    """A delivery task relays its module's outbox in place only when its batch published."""
    from apps.events.public.publishing import relayed_by_caller

    with relayed_by_caller(MODULE) as idle, transaction.atomic(using=MODULE):
        pass  # a batch that published nothing
    assert idle.owed is False

    with relayed_by_caller(MODULE) as busy:
        with transaction.atomic(using=MODULE):
            publish(ProbePinged(key="k"), source=MODULE)
        assert connections[MODULE].run_on_commit == []  # no kick of its own: the caller's
    assert busy.owed is True
    assert [row.payload["key"] for row in outbox_rows()] == ["k"]
