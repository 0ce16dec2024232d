"""The saga's group handlers read and write their rows in a fixed number of
statements, however many messages a batch holds: a field left out of a narrowed
query would be fetched row by row (one query per order) on first use."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from apps.customers import services as customer_services
from apps.orders import services as order_services

ALL = "__all__"


def statements_on(alias: str, table: str, work: Callable[[], object]) -> int:
    with CaptureQueriesContext(connections[alias]) as captured:
        work()
    return sum(1 for query in captured.captured_queries if table in query["sql"])


@pytest.mark.django_db(databases=ALL)
def test_deciding_orders_takes_the_same_statements_for_one_or_many(make_customer) -> None:
    customer = make_customer(limit="100.00")

    def place(count: int) -> list[uuid.UUID]:
        return [
            order_services.order_place(
                customer_id=customer.id,
                lines=[order_services.LineInput("X", 1, Decimal("1.00"))],
            ).id
            for _ in range(count)
        ]

    def decide(order_ids: list[uuid.UUID]) -> None:
        half = len(order_ids) // 2
        order_services.order_decide_many(
            decisions=[
                order_services.CreditDecision(order_id=order_id, approved=True)
                for order_id in order_ids[half:]
            ]
            + [
                order_services.CreditDecision(
                    order_id=order_id, approved=False, reason="INSUFFICIENT_CREDIT"
                )
                for order_id in order_ids[:half]
            ]
        )

    one, six = place(1), place(6)
    assert statements_on("orders", "orders_order", lambda: decide(one)) == statements_on(
        "orders", "orders_order", lambda: decide(six)
    )


@pytest.mark.django_db(databases=ALL)
def test_reserving_credit_takes_the_same_statements_for_one_or_many(make_customer) -> None:
    customers = [make_customer(limit="100.00") for _ in range(4)]

    def reserve(count: int) -> None:
        with transaction.atomic(using="customers"):
            customer_services.credit_reserve_many(
                requests=[
                    customer_services.CreditRequest(
                        order_id=uuid.uuid4(),
                        customer_id=customers[index % len(customers)].id,
                        amount=Decimal("1.00"),
                    )
                    for index in range(count)
                ]
            )

    assert statements_on("customers", "customers_customer", lambda: reserve(1)) == (
        statements_on("customers", "customers_customer", lambda: reserve(8))
    )


def test_the_placement_writes_every_column_in_the_models_field_order() -> None:
    """`Model.from_db` maps a full row to the fields by position alone."""
    from apps.orders.models import Order

    fields = tuple(field.attname for field in Order._meta.concrete_fields)
    assert fields == order_services._ORDER_COLUMNS


@pytest.mark.django_db(databases=ALL)
def test_a_placed_order_is_the_row_written_and_reads_back_the_same(make_customer) -> None:
    """Placing builds the instance from the row it writes: what comes back must
    equal what the database holds."""
    from apps.orders.models import Order

    customer = make_customer(limit="100.00")
    placed = order_services.order_place(
        customer_id=customer.id,
        lines=[order_services.LineInput("X", 2, Decimal("3.50"))],
        origin=uuid.uuid4(),
    )
    stored = Order.objects.using("orders").get(pk=placed.pk)
    assert [getattr(placed, name) for name in order_services._ORDER_COLUMNS] == [
        getattr(stored, name) for name in order_services._ORDER_COLUMNS
    ]
    assert (placed.state, placed.total, placed.currency) == ("PENDING", Decimal("7.00"), "EUR")
    assert (placed._state.adding, placed._state.db) == (False, "orders")
    placed.rejection_reason = "saved as the ORM would"
    placed.save(update_fields=["rejection_reason"])  # an UPDATE, not a second INSERT
    stored = Order.objects.using("orders").get(pk=placed.pk)
    assert stored.rejection_reason == placed.rejection_reason
