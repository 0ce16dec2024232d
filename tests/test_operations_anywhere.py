"""Operations work wherever the modules live: health, events_status, the audit and the
admin read each module through its own alias (run again with `orders` moved out)."""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from apps.events.testing import drain
from apps.orders import services as orders

ALL = "__all__"


@pytest.mark.e2e
@pytest.mark.django_db(databases=ALL)
def test_health_status_audit_and_admin_see_every_module(client: Client, make_customer) -> None:
    from decimal import Decimal

    customer = make_customer(limit="50.00")
    order = orders.order_place(
        customer_id=customer.id, lines=[orders.LineInput("BOOK", 1, Decimal("12.00"))]
    )
    drain()

    health = client.get("/api/health/")
    assert health.status_code == 200, health.content
    assert {f"database:{alias}" for alias in settings.DATABASES} <= set(health.json()["checks"])

    status = io.StringIO()
    call_command("events_status", stdout=status)
    assert "orders" in status.getvalue()
    call_command("audit_consistency", stdout=io.StringIO())

    client.force_login(User.objects.create_superuser("boss", password="pw"))
    page = client.get(f"/admin/orders/order/{order.pk}/change/")
    assert page.status_code == 200
    assert "customers.CreditReserved" in page.content.decode()  # the saga timeline
    orders.order_cancel(order_id=order.pk)  # a saga of its own: the timeline shows it too
    drain()
    page = client.get(f"/admin/orders/order/{order.pk}/change/")
    assert "customers.CreditReleased" in page.content.decode()
    assert client.get("/admin/customers/customer/").status_code == 200
