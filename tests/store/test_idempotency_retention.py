"""Idempotency keys are kept a day, then each module's workers purge them."""

from __future__ import annotations

import io
import os
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from apps.customers.models import IdempotencyKey as CustomerKey
from apps.orders.models import IdempotencyKey as OrderKey
from project.api.idempotency import idempotency_records
from project.tasks import purge_idempotency_keys

pytestmark = pytest.mark.django_db(databases="__all__")
LINE = {"sku": "BOOK-1", "quantity": 1, "unit_price": "5.00"}


def test_keys_past_their_retention_are_purged_and_the_key_is_new_again(
    staff: APIClient, make_customer
) -> None:
    customer = make_customer(limit="100.00")
    body = {"customer_id": str(customer.id), "lines": [LINE]}
    old = staff.post("/api/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="old")
    staff.post("/api/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="recent")
    client_body = {"name": "Bo", "email": "bo@example.com", "region": "EU", "credit_limit": "1"}
    staff.post("/api/customers/", client_body, format="json", HTTP_IDEMPOTENCY_KEY="old")
    day_and_more = timezone.now() - timedelta(
        seconds=settings.IDEMPOTENCY_KEY_RETENTION_SECONDS + 60
    )
    OrderKey.objects.using("orders").filter(key="old").update(created_at=day_and_more)
    CustomerKey.objects.using("customers").filter(key="old").update(created_at=day_and_more)

    assert purge_idempotency_keys("orders") == 1  # as beat sends it, on the orders queue
    assert sorted(OrderKey.objects.using("orders").values_list("key", flat=True)) == ["recent"]
    assert CustomerKey.objects.using("customers").count() == 1  # another module's: its own run

    again = staff.post("/api/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="old")
    assert again.status_code == 202
    assert again.json()["id"] != old.json()["id"]  # past its retention, a key is new


def test_every_module_with_keys_has_its_purge_on_its_own_queue() -> None:
    import subprocess
    import sys

    # What a worker finds, in a process that has imported nothing else.
    found = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from project.celery import app;"
         " app.loader.import_default_modules(); print(sorted(app.tasks))"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings"},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "'platform.purge_idempotency_keys'" in found
    modules = set(idempotency_records())
    assert modules == set(settings.IDEMPOTENCY_KEYS_MODULES) == {
        "customers", "orders", "ticketing", "bookings",
    }  # fmt: skip
    for module in modules:
        entry = settings.CELERY_BEAT_SCHEDULE[f"{module}-purge-idempotency-keys"]
        assert entry["task"] == purge_idempotency_keys.name
        assert (entry["args"], entry["options"]["queue"]) == ((module,), module)


def test_the_purge_command_reports_each_module_and_refuses_a_negative_age() -> None:
    out = io.StringIO()
    call_command("purge_idempotency_keys", "--older-than-hours", "1", stdout=out)
    assert out.getvalue().splitlines() == [
        f"{module}: 0 idempotency keys purged" for module in sorted(idempotency_records())
    ]
    with pytest.raises(CommandError):
        call_command("purge_idempotency_keys", "--older-than-hours", "-1")


def test_the_purge_goes_in_batches_oldest_first(staff: APIClient, make_customer) -> None:
    from project.api.idempotency import idempotency_keys_purge

    customer = make_customer(limit="100.00")
    body = {"customer_id": str(customer.id), "lines": [LINE]}
    for n in range(5):
        staff.post("/api/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=f"k{n}")
    keys = OrderKey.objects.using("orders")
    for n in range(5):  # k0 the oldest
        keys.filter(key=f"k{n}").update(created_at=timezone.now() - timedelta(days=10 - n))
    assert (
        idempotency_keys_purge(module="orders", older_than=timedelta(days=6.5), batch_size=2) == 4
    )
    assert list(keys.values_list("key", flat=True)) == ["k4"]
