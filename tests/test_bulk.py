"""The set-at-a-time helpers of the hot paths (project/bulk.py), on a real table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import DataError, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from apps.customers.models import CreditReservation, Customer, CustomerOrder
from project.bulk import rows_copy, rows_update, rows_upsert

ALIAS = "customers"
AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
STATE_FIELDS = ("state", "rejection_reason", "updated_at", "last_position")


def history_row(order_id: uuid.UUID, state: str = "PENDING", position: int = 1) -> tuple:
    return (order_id, uuid.uuid4(), Decimal("12.34"), AT, state, "", AT, position)


def history() -> dict[uuid.UUID, tuple[str, str, int]]:
    return {
        row.order_id: (row.state, row.rejection_reason, row.last_position)
        for row in CustomerOrder.objects.using(ALIAS).all()
    }


@pytest.mark.django_db(databases=[ALIAS])
def test_rows_copy_then_any_finds_them_and_only_them() -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    rows_copy(
        CustomerOrder,
        using=ALIAS,
        fields=("order_id", "customer_id", "total", "placed_at", *STATE_FIELDS),
        rows=[history_row(order_id) for order_id in ids],
    )
    found = CustomerOrder.objects.using(ALIAS).filter(order_id__any=[ids[0], ids[2], uuid.uuid4()])
    assert {row.order_id for row in found} == {ids[0], ids[2]}
    assert not CustomerOrder.objects.using(ALIAS).filter(order_id__any=[]).exists()


@pytest.mark.django_db(databases=[ALIAS])
def test_any_works_across_a_foreign_key() -> None:
    customer = Customer.objects.using(ALIAS).create(
        name="Ada", email="ada@example.com", region="EU", credit_limit=Decimal("10.00")
    )
    CreditReservation.objects.using(ALIAS).create(
        order_id=uuid.uuid4(), customer=customer, amount=Decimal("1.00")
    )
    held = CreditReservation.objects.using(ALIAS).filter(customer_id__any=[customer.id])
    assert held.count() == 1


@pytest.mark.django_db(databases=[ALIAS])
def test_rows_update_sets_each_row_to_its_own_values_and_skips_unknown_keys() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    rows_upsert(
        CustomerOrder,
        using=ALIAS,
        key="order_id",
        fields=("customer_id", "total", "placed_at", *STATE_FIELDS),
        rows=[history_row(first), history_row(second)],
    )
    updated = rows_update(
        CustomerOrder,
        using=ALIAS,
        key="order_id",
        fields=STATE_FIELDS,
        rows=[
            (first, "APPROVED", "", AT, 2),
            (second, "REJECTED", "INSUFFICIENT_CREDIT", AT, 3),
            (uuid.uuid4(), "APPROVED", "", AT, 4),  # never placed: skipped
        ],
    )
    assert updated == 2
    assert history() == {
        first: ("APPROVED", "", 2),
        second: ("REJECTED", "INSUFFICIENT_CREDIT", 3),
    }


@pytest.mark.django_db(databases=[ALIAS])
def test_rows_upsert_inserts_new_rows_and_replaces_existing_ones() -> None:
    kept, replaced, new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    fields = ("customer_id", "total", "placed_at", *STATE_FIELDS)
    rows_upsert(
        CustomerOrder, using=ALIAS, key="order_id", fields=fields,
        rows=[history_row(kept), history_row(replaced)],
    )  # fmt: skip
    rows_upsert(
        CustomerOrder, using=ALIAS, key="order_id", fields=fields,
        rows=[history_row(replaced, "APPROVED", 5), history_row(new, "PENDING", 6)],
    )  # fmt: skip
    assert history() == {
        kept: ("PENDING", "", 1),
        replaced: ("APPROVED", "", 5),
        new: ("PENDING", "", 6),
    }
    assert (
        rows_update(CustomerOrder, using=ALIAS, key="order_id", fields=STATE_FIELDS, rows=[]) == 0
    )


@pytest.mark.django_db(databases=[ALIAS])
def test_a_value_too_long_for_its_column_fails_rather_than_being_cut() -> None:
    order_id = uuid.uuid4()
    fields = ("customer_id", "total", "placed_at", *STATE_FIELDS)
    rows_upsert(
        CustomerOrder, using=ALIAS, key="order_id", fields=fields, rows=[history_row(order_id)]
    )
    with pytest.raises(DataError):
        rows_update(
            CustomerOrder, using=ALIAS, key="order_id", fields=STATE_FIELDS,
            rows=[(order_id, "A-STATE-LONGER-THAN-TEN", "", AT, 2)],
        )  # fmt: skip


@pytest.mark.django_db(databases=[ALIAS])
def test_a_statement_run_often_is_prepared_on_its_connection() -> None:
    """The hot paths' statements are planned once per connection, not per run
    (project/database_settings.py): the server keeps them as prepared statements."""
    connection = connections[ALIAS]
    connection.ensure_connection()
    # The settings' threshold (5 unless DATABASE_PREPARE_THRESHOLD says otherwise,
    # tests/test_settings.py), pinned: this test is about the server's side.
    threshold, connection.connection.prepare_threshold = connection.connection.prepare_threshold, 5
    try:
        _upsert_six_times_and_find_it_prepared(connection)
    finally:
        connection.connection.prepare_threshold = threshold


def _upsert_six_times_and_find_it_prepared(connection: BaseDatabaseWrapper) -> None:
    order_id = uuid.uuid4()
    for position in range(1, 7):
        rows_upsert(
            CustomerOrder,
            using=ALIAS,
            key="order_id",
            fields=("customer_id", "total", "placed_at", *STATE_FIELDS),
            rows=[history_row(order_id, position=position)],
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["INSERT INTO %customers_customerorder%"],
        )
        assert cursor.fetchone()[0] == 1
    assert history()[order_id] == ("PENDING", "", 6)


@pytest.mark.django_db(databases=["orders"])
def test_more_ids_than_the_protocol_has_parameters_are_one_parameter() -> None:
    """Values bound by the server go one protocol parameter each, at most 65,535
    a statement: a long id list goes as one array (`__any`), never as `__in`."""
    from apps.orders.public.queries import order_states

    assert order_states(order_ids=(uuid.uuid4() for _ in range(70_000))) == {}
