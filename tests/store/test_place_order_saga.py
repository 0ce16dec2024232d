"""The Place Order saga, end to end through the bus (drained in this thread)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from apps.customers.models import CreditReservation
from apps.customers.public.queries import customers_reserved_out_of_step
from apps.customers.selectors import customer_reserved_credit
from apps.events.testing import drain
from apps.orders.models import Order

ALL = "__all__"
pytestmark = pytest.mark.django_db(databases=ALL)


def place(client: APIClient, customer_id: object, *prices: str) -> dict:
    lines = [{"sku": f"SKU-{i}", "quantity": 1, "unit_price": p} for i, p in enumerate(prices)]
    response = client.post(
        "/api/orders/", {"customer_id": str(customer_id), "lines": lines}, format="json"
    )
    assert response.status_code == 202, response.content
    assert response.json()["state"] == "PENDING"
    return response.json()


def order(client: APIClient, order_id: str) -> dict:
    response = client.get(f"/api/orders/{order_id}/")
    assert response.status_code == 200
    return response.json()


def test_an_order_within_the_limit_is_approved(staff: APIClient, make_customer) -> None:
    customer = make_customer(limit="15.00")
    placed = place(staff, customer.id, "12.34")
    assert placed["total"] == "12.34"
    drain()
    decided = order(staff, placed["id"])
    assert decided["state"] == "APPROVED"
    assert decided["rejection_reason"] == ""
    assert customer_reserved_credit(customer_id=customer.id) == Decimal("12.34")
    assert customers_reserved_out_of_step() == []  # the ledger agrees
    assert staff.get(f"/api/customers/{customer.id}/").json()["available_credit"] == "2.66"


def test_an_order_over_the_limit_is_rejected_for_credit(staff: APIClient, make_customer) -> None:
    customer = make_customer(limit="15.00")
    placed = place(staff, customer.id, "123.40")
    drain()
    decided = order(staff, placed["id"])
    assert decided["state"] == "REJECTED"
    assert decided["rejection_reason"] == "INSUFFICIENT_CREDIT"
    assert customer_reserved_credit(customer_id=customer.id) == 0
    assert customers_reserved_out_of_step() == []  # the ledger agrees


def test_an_order_for_an_unknown_customer_is_rejected(staff: APIClient) -> None:
    placed = place(staff, "00000000-0000-4000-8000-000000000000", "1.00")
    drain()
    decided = order(staff, placed["id"])
    assert decided["state"] == "REJECTED"
    assert decided["rejection_reason"] == "UNKNOWN_CUSTOMER"


def test_cancelling_an_approved_order_gives_the_credit_back(
    staff: APIClient, make_customer
) -> None:
    customer = make_customer(limit="15.00")
    placed = place(staff, customer.id, "12.34")
    drain()
    response = staff.post(f"/api/orders/{placed['id']}/cancel/")
    assert response.status_code == 202
    drain()
    assert order(staff, placed["id"])["state"] == "CANCELLED"
    assert customer_reserved_credit(customer_id=customer.id) == 0
    assert customers_reserved_out_of_step() == []  # the ledger agrees
    assert staff.get(f"/api/customers/{customer.id}/").json()["available_credit"] == "15.00"
    reservation = CreditReservation.objects.using("customers").get(order_id=placed["id"])
    assert reservation.state == CreditReservation.State.RELEASED


def test_a_cancel_that_overtakes_the_credit_check_ends_with_no_credit_held(
    staff: APIClient, make_customer
) -> None:
    customer = make_customer(limit="15.00")
    placed = place(staff, customer.id, "12.34")
    assert staff.post(f"/api/orders/{placed['id']}/cancel/").status_code == 202  # still PENDING
    drain()
    assert order(staff, placed["id"])["state"] == "CANCELLED"
    assert customer_reserved_credit(customer_id=customer.id) == 0
    assert customers_reserved_out_of_step() == []  # the ledger agrees


def test_a_late_order_placed_after_its_cancel_reserves_nothing(make_customer) -> None:
    """If OrderPlaced reaches customers after OrderCancelled (say it was parked and
    retried), the VOID entry keeps it from reserving."""
    import uuid

    from apps.customers import services

    customer = make_customer(limit="15.00")
    order_id = uuid.uuid4()
    services.credit_release(order_id=order_id, customer_id=customer.id)
    services.credit_reserve(order_id=order_id, customer_id=customer.id, amount=Decimal("5.00"))
    assert customer_reserved_credit(customer_id=customer.id) == 0
    assert customers_reserved_out_of_step() == []  # the ledger agrees


def test_cancelling_a_final_order_is_409(staff: APIClient, make_customer) -> None:
    customer = make_customer(limit="1.00")
    placed = place(staff, customer.id, "5.00")
    drain()
    response = staff.post(f"/api/orders/{placed['id']}/cancel/")
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"


def test_the_order_saga_timeline_lists_its_messages_in_order(
    staff: APIClient, make_customer
) -> None:
    customer = make_customer(limit="15.00")
    placed = place(staff, customer.id, "12.34")
    drain()
    timeline = staff.get(f"/api/orders/{placed['id']}/events/").json()
    assert [m["type"] for m in timeline] == [
        "orders.OrderPlaced",
        "customers.CreditReserved",
        "orders.OrderApproved",
    ]
    assert timeline[0]["payload"]["total"] == "12.34"


def test_the_timeline_shows_the_cancel_and_only_this_orders_messages(
    staff: APIClient, make_customer
) -> None:
    # One client, one X-Correlation-ID for every request: the two orders share
    # their sagas, and each timeline must still show only its own order.
    customer = make_customer(limit="50.00")
    staff.credentials(HTTP_X_CORRELATION_ID="5d7e4a3c-0000-4000-8000-00000000c0de")
    first, second = place(staff, customer.id, "10.00"), place(staff, customer.id, "20.00")
    drain()
    staff.credentials()  # the cancel: a request with a correlation id of its own
    assert staff.post(f"/api/orders/{first['id']}/cancel/").status_code == 202
    drain()

    def timeline(order: dict) -> list[tuple[str, str]]:
        events = staff.get(f"/api/orders/{order['id']}/events/").json()
        return [(m["type"], m["payload"]["order_id"]) for m in events]

    assert timeline(first) == [
        ("orders.OrderPlaced", first["id"]), ("customers.CreditReserved", first["id"]),
        ("orders.OrderApproved", first["id"]), ("orders.OrderCancelled", first["id"]),
        ("customers.CreditReleased", first["id"]),
    ]  # fmt: skip
    assert timeline(second) == [
        ("orders.OrderPlaced", second["id"]), ("customers.CreditReserved", second["id"]),
        ("orders.OrderApproved", second["id"]),
    ]  # fmt: skip


def test_the_place_order_command_places_once(make_customer) -> None:
    import uuid

    from django.db import transaction

    from apps.events.public import publish
    from apps.orders.public.messages import OrderLine, PlaceOrder

    customer = make_customer(limit="50.00")
    command = PlaceOrder(
        order_id=str(uuid.uuid4()),
        customer_id=str(customer.id),
        lines=(OrderLine(sku="SEAT-A1", quantity=2, unit_price="10.00"),),
        origin=str(uuid.uuid4()),
    )
    with transaction.atomic(using="bookings"):
        publish(command, source="bookings")
        publish(command.model_copy(), source="bookings")  # sent twice
    drain()
    placed = Order.objects.using("orders").get(pk=command.order_id)
    assert placed.state == Order.State.APPROVED
    assert placed.total == Decimal("20.00")
    assert str(placed.origin) == command.origin
    assert customer_reserved_credit(customer_id=customer.id) == Decimal("20.00")
    assert customers_reserved_out_of_step() == []  # the ledger agrees


def test_the_cancel_order_command_cancels(staff: APIClient, make_customer) -> None:
    from django.db import transaction

    from apps.events.public import publish
    from apps.orders.public.messages import CancelOrder

    customer = make_customer(limit="15.00")
    placed = place(staff, customer.id, "10.00")
    drain()
    with transaction.atomic(using="bookings"):
        publish(CancelOrder(order_id=placed["id"]), source="bookings")
        publish(CancelOrder(order_id=placed["id"]), source="bookings")  # twice: harmless
    drain()
    assert order(staff, placed["id"])["state"] == "CANCELLED"
    assert customer_reserved_credit(customer_id=customer.id) == 0
    assert customers_reserved_out_of_step() == []  # the ledger agrees


def test_a_credit_limit_below_what_is_reserved_is_refused(staff: APIClient, make_customer) -> None:
    customer = make_customer(limit="15.00")
    place(staff, customer.id, "12.00")
    drain()
    response = staff.patch(
        f"/api/customers/{customer.id}/", {"credit_limit": "10.00"}, format="json"
    )
    assert response.status_code == 400
    assert "credit_limit" in response.json()["errors"]
    response = staff.patch(
        f"/api/customers/{customer.id}/", {"credit_limit": "20.00"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["available_credit"] == "8.00"


def test_a_place_order_retried_after_its_cancel_is_born_cancelled(make_customer) -> None:
    """The booking saga's PlaceOrder was parked; its CancelOrder ran first."""
    import uuid

    from django.db import transaction

    from apps.events.public import publish
    from apps.orders.public.messages import CancelOrder, OrderLine, PlaceOrder

    customer = make_customer(limit="50.00")
    order_id = str(uuid.uuid4())
    with transaction.atomic(using="bookings"):
        publish(CancelOrder(order_id=order_id), source="bookings")
        publish(
            PlaceOrder(
                order_id=order_id,
                customer_id=str(customer.id),
                lines=(OrderLine(sku="SEAT", quantity=1, unit_price="10.00"),),
            ),
            source="bookings",
        )
    drain()
    assert Order.objects.using("orders").get(pk=order_id).state == Order.State.CANCELLED
    assert customer_reserved_credit(customer_id=customer.id) == 0
    assert customers_reserved_out_of_step() == []  # the ledger agrees


def test_an_order_placed_message_parked_and_retried_after_the_cancel_reserves_nothing(
    staff: APIClient, make_customer, monkeypatch: pytest.MonkeyPatch, settings
) -> None:
    from apps.customers import services
    from apps.events.selectors import store_find
    from apps.events.services import parked_retry

    settings.EVENTS_MAX_ATTEMPTS = 1
    customer = make_customer(limit="15.00")

    def broken(**_kwargs: object) -> None:
        raise RuntimeError("the credit check is down")

    monkeypatch.setattr(services, "credit_reserve_many", broken)
    placed = place(staff, customer.id, "12.34")
    drain()  # OrderPlaced is parked by customers: the cancel overtakes the credit check
    assert staff.post(f"/api/orders/{placed['id']}/cancel/").status_code == 202
    drain()
    monkeypatch.undo()
    assert parked_retry(subscriber="customers").applied == 1  # the late OrderPlaced
    drain()
    assert order(staff, placed["id"])["state"] == "CANCELLED"
    assert customer_reserved_credit(customer_id=customer.id) == 0
    assert customers_reserved_out_of_step() == []  # the ledger agrees
    released = store_find(message_type="customers.CreditReleased")
    assert [e.payload["amount"] for e in released] == ["0.00"]


def test_cancelling_twice_is_409_the_second_time(staff: APIClient, make_customer) -> None:
    customer = make_customer(limit="15.00")
    placed = place(staff, customer.id, "10.00")
    drain()
    assert staff.post(f"/api/orders/{placed['id']}/cancel/").status_code == 202
    assert staff.post(f"/api/orders/{placed['id']}/cancel/").status_code == 409


def test_a_cancel_command_sent_twice_leaves_no_subscriber_stuck(
    staff: APIClient, make_customer
) -> None:
    from django.db import transaction

    from apps.events.public import publish
    from apps.events.public.records import checkpoint_models, parked_models
    from apps.events.selectors import store_find
    from apps.orders.public.messages import CancelOrder

    customer = make_customer(limit="15.00")
    placed = place(staff, customer.id, "10.00")
    drain()
    with transaction.atomic(using="bookings"):
        publish(CancelOrder(order_id=placed["id"]), source="bookings")
        publish(CancelOrder(order_id=placed["id"]), source="bookings")
    drain()
    assert order(staff, placed["id"])["state"] == "CANCELLED"
    assert len(store_find(message_type="customers.CreditReleased")) == 1
    for module in ("orders", "customers"):
        assert not parked_models()[module].objects.using(module).exists()
        stuck = checkpoint_models()[module].objects.using(module).exclude(failing_position=None)
        assert not stuck.exists()
