"""Credit under concurrency, the customers' read model, and the saga on a real worker."""

from __future__ import annotations

import contextlib
import io
import time
import uuid
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.customers import services as customer_services
from apps.customers.models import CreditReservation
from apps.customers.public.queries import customers_reserved_out_of_step
from apps.customers.selectors import customer_reserved_credit
from apps.events.testing import drain
from apps.orders.models import Order
from tests.threads import in_threads

ALL = "__all__"


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_fifty_concurrent_reservations_never_overdraw(make_customer) -> None:
    customer = make_customer(limit="100.00")
    order_ids = [uuid.uuid4() for _ in range(50)]
    in_threads(
        [
            lambda order_id=order_id: customer_services.credit_reserve(
                order_id=order_id, customer_id=customer.id, amount=Decimal("3.00")
            )
            for order_id in order_ids
        ]
    )
    reservations = CreditReservation.objects.using("customers").filter(customer=customer)
    assert reservations.count() == 33  # 33 x 3.00 = 99.00 fit in 100.00
    assert customer_reserved_credit(customer_id=customer.id) == Decimal("99.00")
    assert customers_reserved_out_of_step() == []  # the running total kept up with each


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_limit_changes_racing_reservations_and_releases_never_overdraw(make_customer) -> None:
    from django.core.exceptions import ValidationError

    from apps.customers.models import Customer

    customer = make_customer(limit="100.00")
    held = [uuid.uuid4() for _ in range(10)]
    for order_id in held:  # 30.00 reserved before the race
        customer_services.credit_reserve(
            order_id=order_id, customer_id=customer.id, amount=Decimal("3.00")
        )

    applied: list[Decimal] = []

    def change_limit(limit: str) -> None:
        # Below what is reserved at that moment: refused, cleanly. Anything else
        # (the constraint's IntegrityError, a deadlock) fails the test.
        with contextlib.suppress(ValidationError):
            customer_services.customer_update(customer_id=customer.id, credit_limit=Decimal(limit))
            applied.append(Decimal(limit))

    reserve = [
        lambda: customer_services.credit_reserve(
            order_id=uuid.uuid4(), customer_id=customer.id, amount=Decimal("3.00")
        )
        for _ in range(30)
    ]
    release = [
        lambda order_id=order_id: customer_services.credit_release(
            order_id=order_id, customer_id=customer.id
        )
        for order_id in held
    ]
    limits = [lambda limit=limit: change_limit(limit) for limit in ("45.00", "60.00", "90.00") * 4]
    in_threads(reserve + release + limits)

    final = Customer.objects.using("customers").get(pk=customer.id)
    assert applied, "every limit change was refused: the race was not run"
    assert final.credit_limit in applied  # one of the changes made, not a lost one
    reserved = customer_reserved_credit(customer_id=customer.id)
    assert reserved <= final.credit_limit
    assert customers_reserved_out_of_step() == []  # the total agrees with the ledger
    open_count = (
        CreditReservation.objects.using("customers")
        .filter(customer=customer, state=CreditReservation.State.OPEN)
        .count()
    )
    assert reserved == Decimal("3.00") * open_count


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_fifty_orders_placed_at_once_approve_exactly_those_that_fit(
    make_customer, clean_store: None
) -> None:
    from django.contrib.auth.models import User

    customer = make_customer(limit="100.00")
    staff_user = User.objects.create_user("staff", is_staff=True)
    totals = [Decimal(1 + (i * 7919) % 10) for i in range(50)]

    def place(total: Decimal) -> None:
        client = APIClient()
        client.force_authenticate(staff_user)
        line = {"sku": "X", "quantity": 1, "unit_price": str(total)}
        response = client.post(
            "/api/orders/", {"customer_id": str(customer.id), "lines": [line]}, format="json"
        )
        assert response.status_code == 202

    in_threads([lambda total=total: place(total) for total in totals])
    drain()
    # The credit check runs in event-store order: replay that order by hand.
    from apps.events.selectors import store_find

    placed = store_find(message_type="orders.OrderPlaced")
    available, expected = Decimal("100.00"), set()
    for envelope in placed:
        total = Decimal(envelope.payload["total"])
        if total <= available:
            available -= total
            expected.add(envelope.aggregate_id)
    approved = {
        str(pk)
        for pk in Order.objects.using("orders")
        .filter(state=Order.State.APPROVED)
        .values_list("pk", flat=True)
    }
    assert approved == expected
    assert Order.objects.using("orders").filter(state=Order.State.PENDING).count() == 0
    assert customer_reserved_credit(customer_id=customer.id) <= Decimal("100.00")
    assert customer_reserved_credit(customer_id=customer.id) == Decimal("100.00") - available
    assert customers_reserved_out_of_step() == []  # the ledger agrees


@pytest.mark.django_db(databases=ALL)
def test_the_customers_order_history_rebuilt_by_replay_equals_the_live_one(
    staff: APIClient, make_customer
) -> None:
    from django.core.management import call_command

    from apps.customers.models import CustomerOrder

    customers = [make_customer(limit="25.00") for _ in range(3)]
    placed = []
    for i in range(12):
        line = {"sku": "X", "quantity": 1, "unit_price": f"{3 + i}.00"}
        body = {"customer_id": str(customers[i % 3].id), "lines": [line]}
        placed.append(staff.post("/api/orders/", body, format="json").json()["id"])
    staff.post(f"/api/orders/{placed[0]}/cancel/")
    drain()
    staff.post(f"/api/orders/{placed[1]}/cancel/")
    drain()

    def snapshot() -> list[tuple]:
        return list(CustomerOrder.objects.using("customers").order_by("order_id").values_list())

    live = snapshot()
    assert {row[2] for row in live} == {"APPROVED", "REJECTED", "CANCELLED"}
    api = staff.get(f"/api/customers/{customers[0].id}/orders/").json()["results"]
    assert {o["order_id"] for o in api} == {placed[i] for i in (0, 3, 6, 9)}

    # Damage the read model first, so that a rebuild doing nothing cannot pass:
    # a row lost, a row stale, a row that no event made.
    history = CustomerOrder.objects.using("customers")
    history.filter(order_id=placed[2]).delete()
    history.filter(order_id=placed[0]).update(state="PENDING")
    history.create(
        order_id=uuid.uuid4(), customer_id=customers[0].id, state="APPROVED", total=1,
        placed_at=timezone.now(), updated_at=timezone.now(), last_position=0,
    )  # fmt: skip
    assert snapshot() != live

    out = io.StringIO()
    call_command(
        "replay_events", "--subscriber", "customers.order_history", "--rebuild", stdout=out
    )
    assert snapshot() == live
    assert "applied" in out.getvalue()


@pytest.mark.e2e
@pytest.mark.django_db(databases=ALL, transaction=True)
def test_the_saga_over_http_with_a_real_worker(
    clean_store: None, django_db_setup: str, tmp_path
) -> None:
    """Every saga case, over a socket to gunicorn with the production settings,
    decided by real worker processes on the configured broker (Redis in CI)."""
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    from tests.servers import web_server
    from tests.workers import worker_process

    User.objects.create_user("ada")
    # Made here: the tests' fast password hasher is not one the server's
    # production settings accept (logging in is tested in tests/test_api_shell.py).
    boss = Token.objects.create(user=User.objects.create_user("boss", is_staff=True))

    with web_server(django_db_setup) as url, worker_process(django_db_setup, tmp_path):
        api = _HttpApi(url, token=boss.key)
        customer = api.call(
            "POST", "/api/customers/",
            {"name": "Ada", "email": "ada@example.com", "region": "EU",
             "credit_limit": "15.00", "username": "ada"},
        )  # fmt: skip
        line = {"sku": "BOOK", "quantity": 1, "unit_price": "12.34"}

        def place(customer_id: str, unit_price: str) -> str:
            body = {"customer_id": customer_id, "lines": [{**line, "unit_price": unit_price}]}
            placed = api.call("POST", "/api/orders/", body)
            assert placed["state"] == "PENDING"
            return placed["id"]

        def decided(order_id: str) -> dict:
            deadline = time.monotonic() + 30
            while (order := api.call("GET", f"/api/orders/{order_id}/"))["state"] == "PENDING":
                assert time.monotonic() < deadline, "the saga did not finish"
                time.sleep(0.1)
            return order

        def available() -> str:
            return api.call("GET", f"/api/customers/{customer['id']}/")["available_credit"]

        approved = decided(place(customer["id"], "12.34"))
        assert (approved["state"], available()) == ("APPROVED", "2.66")
        rejected = decided(place(customer["id"], "123.40"))
        assert (rejected["state"], rejected["rejection_reason"]) == (
            "REJECTED", "INSUFFICIENT_CREDIT",
        )  # fmt: skip
        unknown = decided(place(str(uuid.uuid4()), "1.00"))
        assert (unknown["state"], unknown["rejection_reason"]) == ("REJECTED", "UNKNOWN_CUSTOMER")

        cancelled = api.call("POST", f"/api/orders/{approved['id']}/cancel/")
        assert cancelled["state"] == "CANCELLED"
        deadline = time.monotonic() + 30
        while available() != "15.00":  # the release is the customers module's, by message
            assert time.monotonic() < deadline, "the credit was not released"
            time.sleep(0.1)

        def timeline() -> list[str]:
            return [m["type"] for m in api.call("GET", f"/api/orders/{approved['id']}/events/")]

        # CreditReleased commits with the release, and is stored by the relay after.
        while len(timeline()) < 5:
            assert time.monotonic() < deadline, timeline()
            time.sleep(0.1)
        assert timeline() == [
            "orders.OrderPlaced", "customers.CreditReserved", "orders.OrderApproved",
            "orders.OrderCancelled", "customers.CreditReleased",
        ]  # fmt: skip


class _HttpApi:
    """JSON over a real socket (http.client), as a token's user."""

    def __init__(self, url: str, *, token: str) -> None:
        self.url = url
        self.token = token

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        import http.client
        import json
        from urllib.parse import urlsplit

        address = urlsplit(self.url)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Token {self.token}",
            "X-Forwarded-Proto": "https",  # as the TLS proxy in front says
        }
        try:
            content = json.dumps(body) if body is not None else None
            connection.request(method, path, content, headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        assert 200 <= response.status < 300, (method, path, response.status, payload)
        return json.loads(payload)


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_two_registrations_of_one_email_at_once_make_one_customer_and_no_500() -> None:
    from django.contrib.auth.models import User

    from apps.customers.models import Customer

    clerk = User.objects.create_user("clerk", is_staff=True)
    statuses: list[int] = []

    def register(n: int) -> None:
        client = APIClient()
        client.force_authenticate(clerk)
        body = {"name": f"Twin {n}", "email": "twin@example.com", "region": "EU",
                "credit_limit": "1.00"}  # fmt: skip
        response = client.post("/api/customers/", body, format="json")
        if response.status_code != 201:
            assert response["Content-Type"] == "application/problem+json"
        statuses.append(response.status_code)

    in_threads([lambda n=n: register(n) for n in range(6)])
    assert statuses.count(201) == 1
    # The loser either saw the winner (400, the email is taken) or collided on
    # the unique index (409): never a 500.
    assert set(statuses) - {201} <= {400, 409}, statuses
    assert Customer.objects.using("customers").filter(email="twin@example.com").count() == 1


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_two_requests_with_one_idempotency_key_at_once_make_one_order(make_customer) -> None:
    from django.contrib.auth.models import User

    customer = make_customer(limit="100.00")
    staff_user = User.objects.create_user("staff", is_staff=True)
    answers: list[dict] = []
    body = {
        "customer_id": str(customer.id),
        "lines": [{"sku": "X", "quantity": 1, "unit_price": "2.00"}],
    }

    def place() -> None:
        client = APIClient()
        client.force_authenticate(staff_user)
        response = client.post("/api/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="twin")
        assert response.status_code == 202
        answers.append(response.json())

    in_threads([place] * 6)
    assert Order.objects.using("orders").count() == 1
    assert all(answer == answers[0] for answer in answers)
