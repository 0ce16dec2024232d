"""The REST contract of customers and orders: auth, visibility, bad input, idempotency."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from apps.customers.models import Customer
from apps.customers.models import IdempotencyKey as CustomerKey
from apps.customers.public.messages import CustomerUpdated
from apps.events.public.records import outbox_models
from apps.events.testing import drain
from apps.orders.models import IdempotencyKey as OrderKey
from apps.orders.models import Order

ALL = "__all__"
PROBLEM = "application/problem+json"
pytestmark = pytest.mark.django_db(databases=ALL)
LINE = {"sku": "BOOK-1", "quantity": 1, "unit_price": "5.00"}


def rows_everywhere() -> tuple[int, ...]:
    outboxes = tuple(m.objects.using(a).count() for a, m in sorted(outbox_models().items()))
    return (
        Order.objects.using("orders").count(),
        OrderKey.objects.using("orders").count(),
        Customer.objects.using("customers").count(),
        CustomerKey.objects.using("customers").count(),
        *outboxes,
    )


def as_json(body: object) -> dict[str, str]:
    """A request's body as JSON (a string is sent as it is: malformed JSON)."""
    return {
        "data": body if isinstance(body, str) else json.dumps(body),
        "content_type": "application/json",
    }


def assert_problem(response, status: int, code: str) -> dict:
    """A problem+json document with this status and code, saying what went wrong."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert (problem["status"], problem["code"]) == (status, code)
    assert problem["detail"]
    return problem


def expected_problem(case: str) -> tuple[int, str]:
    """The status and code a bad-input case must get."""
    special = {"malformed JSON": (400, "parse_error"), "a 1 MB body": (413, "payload_too_large")}
    return special.get(case, (400, "invalid"))


def test_a_staff_user_registers_a_customer_for_a_user(staff: APIClient) -> None:
    User.objects.create_user("ada")
    body = {
        "name": "Ada",
        "email": "Ada@Example.com",
        "region": "EU",
        "credit_limit": "100.00",
        "username": "ada",
    }
    response = staff.post("/api/customers/", body, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created == {
        "id": created["id"],
        "name": "Ada",
        "email": "ada@example.com",
        "region": "EU",
        "credit_limit": "100.00",
        "available_credit": "100.00",
    }
    assert User.objects.get(username="ada").has_perm(
        "customers.view_customer", Customer.objects.using("customers").get(pk=created["id"])
    )


def test_customers_are_listed_by_region(staff: APIClient, make_customer) -> None:
    make_customer()
    us = Customer.objects.using("customers").create(
        name="Sam", email="sam@example.com", region="US", credit_limit=1
    )
    listing = staff.get("/api/customers/", {"region": "US"}).json()
    assert [c["id"] for c in listing["results"]] == [str(us.id)]
    assert set(listing) >= {"next", "previous", "results"}


def test_a_user_sees_only_their_own_customer_and_orders(
    staff: APIClient, make_customer, user_client
) -> None:
    alice, alice_client = user_client("alice")
    bob, bob_client = user_client("bob")
    a = make_customer(owner=alice, limit="50.00")
    b = make_customer(owner=bob, limit="50.00")
    b_order = staff.post(
        "/api/orders/", {"customer_id": str(b.id), "lines": [LINE]}, format="json"
    ).json()

    assert [c["id"] for c in alice_client.get("/api/customers/").json()["results"]] == [str(a.id)]
    assert alice_client.get(f"/api/customers/{b.id}/").status_code == 404
    assert alice_client.get(f"/api/customers/{b.id}/orders/").status_code == 404
    response = alice_client.get(f"/api/orders/{b_order['id']}/")
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    assert alice_client.post(f"/api/orders/{b_order['id']}/cancel/").status_code == 404
    assert alice_client.get(f"/api/orders/{b_order['id']}/events/").status_code == 404
    assert alice_client.get("/api/orders/").json()["results"] == []
    assert bob_client.get(f"/api/orders/{b_order['id']}/").status_code == 200


def test_a_user_cannot_place_an_order_for_someone_elses_customer(
    make_customer, user_client
) -> None:
    alice, alice_client = user_client("alice")
    bob, _ = user_client("bob")
    mine, theirs = make_customer(owner=alice), make_customer(owner=bob)
    before = rows_everywhere()
    response = alice_client.post(
        "/api/orders/", {"customer_id": str(theirs.id), "lines": [LINE]}, format="json"
    )
    assert response.status_code == 404
    assert rows_everywhere() == before
    response = alice_client.post(
        "/api/orders/", {"customer_id": str(mine.id), "lines": [LINE]}, format="json"
    )
    assert response.status_code == 202


def test_only_staff_may_register_or_change_customers(make_customer, user_client) -> None:
    alice, alice_client = user_client("alice")
    mine = make_customer(owner=alice)
    body = {"name": "X", "email": "x@example.com", "region": "EU", "credit_limit": "1.00"}
    assert alice_client.post("/api/customers/", body, format="json").status_code == 403
    response = alice_client.patch(
        f"/api/customers/{mine.id}/", {"credit_limit": "99999.00"}, format="json"
    )
    assert response.status_code == 403


SOME_ID = "00000000-0000-4000-8000-000000000000"
ANONYMOUS_CALLS = [
    ("get", "/api/customers/"),
    ("post", "/api/customers/"),
    ("get", f"/api/customers/{SOME_ID}/"),
    ("patch", f"/api/customers/{SOME_ID}/"),
    ("get", f"/api/customers/{SOME_ID}/orders/"),
    ("get", "/api/orders/"),
    ("post", "/api/orders/"),
    ("get", f"/api/orders/{SOME_ID}/"),
    ("post", f"/api/orders/{SOME_ID}/cancel/"),
    ("get", f"/api/orders/{SOME_ID}/events/"),
    ("get", "/api/me/"),
]


@pytest.mark.parametrize(("method", "path"), ANONYMOUS_CALLS)
def test_anonymous_requests_are_401(method: str, path: str) -> None:
    before = rows_everywhere()
    body = {"customer_id": SOME_ID, "lines": [LINE]} if method == "post" else None
    response = getattr(APIClient(), method)(path, body, format="json")
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert rows_everywhere() == before


BAD_ORDERS = {
    "malformed JSON": '{"customer_id": ',
    "missing lines": {"customer_id": "00000000-0000-4000-8000-000000000000"},
    "missing customer": {"lines": [LINE]},
    "no lines": {"customer_id": "00000000-0000-4000-8000-000000000000", "lines": []},
    "zero quantity": {"customer_id": "00000000-0000-4000-8000-000000000000",
                      "lines": [{**LINE, "quantity": 0}]},
    "negative quantity": {"customer_id": "00000000-0000-4000-8000-000000000000",
                          "lines": [{**LINE, "quantity": -2}]},
    "non-numeric price": {"customer_id": "00000000-0000-4000-8000-000000000000",
                          "lines": [{**LINE, "unit_price": "cheap"}]},
    "negative price": {"customer_id": "00000000-0000-4000-8000-000000000000",
                       "lines": [{**LINE, "unit_price": "-1.00"}]},
    "customer id not a UUID": {"customer_id": "customer-42", "lines": [LINE]},
    "lines not a list": {"customer_id": "00000000-0000-4000-8000-000000000000", "lines": "x"},
    "a total too large to hold": {"customer_id": "00000000-0000-4000-8000-000000000000",
                                  "lines": [{**LINE, "quantity": 10_000,
                                             "unit_price": "9999999999.99"}]},
    "a 1 MB body": {"customer_id": "00000000-0000-4000-8000-000000000000",
                    "lines": [{**LINE, "sku": "x" * 1_000_000}]},
}  # fmt: skip


@pytest.mark.parametrize(("case", "body"), BAD_ORDERS.items(), ids=BAD_ORDERS.keys())
def test_bad_orders_are_4xx_problems_and_write_nothing(
    staff: APIClient, make_customer, case: str, body: object
) -> None:
    make_customer()
    before = rows_everywhere()
    response = staff.post("/api/orders/", **as_json(body), HTTP_IDEMPOTENCY_KEY="k1")
    assert_problem(response, *expected_problem(case))
    assert rows_everywhere() == before
    drain()
    assert Order.objects.using("orders").count() == 0


CUSTOMER = {"name": "Ann", "email": "ann@example.com", "region": "EU", "credit_limit": "10.00"}
BAD_CUSTOMERS = {
    "malformed JSON": '{"name": ',
    "missing name": {k: v for k, v in CUSTOMER.items() if k != "name"},
    "missing credit limit": {k: v for k, v in CUSTOMER.items() if k != "credit_limit"},
    "not an email": {**CUSTOMER, "email": "ann-at-example"},
    "non-numeric limit": {**CUSTOMER, "credit_limit": "lots"},
    "negative limit": {**CUSTOMER, "credit_limit": "-1.00"},
    "a limit of 13 digits": {**CUSTOMER, "credit_limit": "12345678901.00"},
    "a lowercase region": {**CUSTOMER, "region": "eu"},
    "an unknown username": {**CUSTOMER, "username": "nobody"},
    "a list, not an object": [CUSTOMER],
    "a 1 MB body": {**CUSTOMER, "name": "x" * 1_000_000},
}


@pytest.mark.parametrize(("case", "body"), BAD_CUSTOMERS.items(), ids=BAD_CUSTOMERS.keys())
def test_bad_customers_are_4xx_problems_and_write_nothing(
    staff: APIClient, case: str, body: object
) -> None:
    before = rows_everywhere()
    response = staff.post("/api/customers/", **as_json(body), HTTP_IDEMPOTENCY_KEY="k1")
    assert_problem(response, *expected_problem(case))
    assert rows_everywhere() == before


BAD_CHANGES = {
    "malformed JSON": '{"credit_limit": ',
    "non-numeric limit": {"credit_limit": "lots"},
    "negative limit": {"credit_limit": "-5"},
    "a lowercase region": {"region": "us"},
    "a limit below what is reserved": {"credit_limit": "1.00"},
}


@pytest.mark.parametrize(("case", "body"), BAD_CHANGES.items(), ids=BAD_CHANGES.keys())
def test_bad_customer_changes_are_4xx_problems_and_change_nothing(
    staff: APIClient, make_customer, case: str, body: object
) -> None:
    customer = make_customer(limit="10.00")
    placed = staff.post(
        "/api/orders/", {"customer_id": str(customer.id), "lines": [LINE]}, format="json"
    )
    assert placed.status_code == 202
    drain()  # 5.00 reserved
    before = (rows_everywhere(), staff.get(f"/api/customers/{customer.id}/").json())
    response = staff.patch(f"/api/customers/{customer.id}/", **as_json(body))
    assert_problem(response, *expected_problem(case))
    assert (rows_everywhere(), staff.get(f"/api/customers/{customer.id}/").json()) == before


@pytest.mark.parametrize("key", ["", "k" * 201, "tab\there"], ids=["empty", "too long", "a tab"])
@pytest.mark.parametrize("path", ["/api/customers/", "/api/orders/"])
def test_a_malformed_idempotency_key_is_a_400_and_writes_nothing(
    staff: APIClient, make_customer, key: str, path: str
) -> None:
    customer = make_customer()
    body = (
        CUSTOMER
        if path == "/api/customers/"
        else {"customer_id": str(customer.id), "lines": [LINE]}
    )
    before = rows_everywhere()
    response = staff.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert (response.status_code, response["Content-Type"]) == (400, PROBLEM)
    assert response.json()["code"] == "idempotency_key_invalid"
    assert rows_everywhere() == before


def test_a_field_error_names_the_field(staff: APIClient) -> None:
    response = staff.post(
        "/api/orders/",
        {"customer_id": "00000000-0000-4000-8000-000000000000", "lines": [{**LINE, "quantity": 0}]},
        format="json",
    )
    assert response.json()["errors"] == {
        "lines.0.quantity": ["Ensure this value is greater than or equal to 1."]
    }


def test_the_same_idempotency_key_gives_one_order_and_the_same_answer(
    staff: APIClient, make_customer
) -> None:
    customer = make_customer()
    body = {"customer_id": str(customer.id), "lines": [LINE]}
    first = staff.post("/api/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    again = staff.post("/api/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    assert first.status_code == again.status_code == 202
    assert again.content == first.content  # the same response, byte for byte
    assert Order.objects.using("orders").count() == 1

    other = {"customer_id": str(customer.id), "lines": [{**LINE, "quantity": 2}]}
    reused = staff.post("/api/orders/", other, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    assert Order.objects.using("orders").count() == 1

    fresh = staff.post("/api/orders/", other, format="json", HTTP_IDEMPOTENCY_KEY="order-2")
    assert fresh.status_code == 202
    assert Order.objects.using("orders").count() == 2


def test_a_placement_answers_with_the_order_as_it_reads_back(
    staff: APIClient, make_customer
) -> None:
    # The response is built from what was written, not read back: it must
    # still be exactly what GET shows, however the amounts were written.
    # "-0" passes min_value=0, and PostgreSQL's numeric has no negative zero.
    from apps.orders.public.messages import OrderPlaced

    customer = make_customer(limit="100.00")
    lines = [
        {"sku": "BOOK-1", "quantity": "3", "unit_price": "5"},
        {"sku": "PEN-7", "quantity": 1, "unit_price": "0.5"},
        {"sku": "MUG-2", "quantity": 1, "unit_price": "1E+1"},
        {"sku": "FREE-0", "quantity": 2, "unit_price": "-0"},
    ]
    body = {"customer_id": str(customer.id), "lines": lines}
    placed = staff.post("/api/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    assert placed.status_code == 202, placed.content
    answer = placed.json()
    assert answer["state"] == "PENDING"
    assert answer["total"] == "25.50"
    assert answer["lines"] == [
        {"sku": "BOOK-1", "quantity": 3, "unit_price": "5.00"},
        {"sku": "PEN-7", "quantity": 1, "unit_price": "0.50"},
        {"sku": "MUG-2", "quantity": 1, "unit_price": "10.00"},
        {"sku": "FREE-0", "quantity": 2, "unit_price": "0.00"},
    ]
    assert staff.get(f"/api/orders/{answer['id']}/").json() == answer
    again = staff.post("/api/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    assert again.json() == answer

    drain()
    (message,) = [m for m in _published(OrderPlaced) if m.order_id == answer["id"]]
    assert [line.unit_price for line in message.lines] == ["5.00", "0.50", "10.00", "0.00"]


def _published(message_class: type) -> list:
    from apps.events.selectors import store_find

    return [stored.message() for stored in store_find(message_type=message_class.message_type)]


def test_a_zero_credit_limit_written_as_minus_zero_is_zero_everywhere(staff: APIClient) -> None:
    from apps.customers.public.messages import CustomerRegistered

    body = {"name": "Zed", "email": "zed@example.com", "region": "EU", "credit_limit": "-0"}
    created = staff.post("/api/customers/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["credit_limit"] == "0.00"
    assert staff.get(f"/api/customers/{created.json()['id']}/").json() == created.json()
    drain()
    (registered,) = _published(CustomerRegistered)
    assert registered.credit_limit == "0.00"


def test_a_service_publishes_minus_zero_as_zero(make_customer) -> None:
    # The admin's forms and management commands reach the services without
    # the API's MoneyField: the message must still say what the row says.
    from decimal import Decimal

    from apps.customers.public.messages import CustomerRegistered
    from apps.orders.public.messages import OrderPlaced
    from apps.orders.services import LineInput, order_place

    customer = make_customer(limit="-0")
    order_place(customer_id=customer.id, lines=[LineInput("FREE", 1, Decimal("-0.00"))])
    drain()
    assert [m.credit_limit for m in _published(CustomerRegistered)] == ["0.00"]
    (placed,) = _published(OrderPlaced)
    assert (placed.total, placed.lines[0].unit_price) == ("0.00", "0.00")


def test_a_grant_that_fails_leaves_no_customer_behind(monkeypatch) -> None:
    # The grant is written on another database, inside the customer's
    # transaction: a crash between the two steps rolls the customer back.
    from decimal import Decimal

    from apps.customers import services

    def grant_fails(*args: object) -> None:
        raise RuntimeError("the platform database went away")

    monkeypatch.setattr(services, "assign_perm", grant_fails)
    before = rows_everywhere()
    with pytest.raises(RuntimeError):
        services.customer_register(
            name="Ann", email="ann@example.com", region="EU", credit_limit=Decimal("1"),
            owner=User.objects.create_user("ann"),
        )  # fmt: skip
    assert rows_everywhere() == before  # no customer, no CustomerRegistered


def test_creating_a_customer_is_idempotent_too(staff: APIClient) -> None:
    body = {"name": "Ann", "email": "ann@example.com", "region": "EU", "credit_limit": "1.00"}
    first = staff.post("/api/customers/", body, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    again = staff.post("/api/customers/", body, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert Customer.objects.using("customers").count() == 1
    other = {**body, "email": "ann.other@example.com"}
    reused = staff.post("/api/customers/", other, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")
    assert Customer.objects.using("customers").count() == 1


def test_a_duplicate_email_is_a_400(staff: APIClient, make_customer) -> None:
    make_customer(email="dup@example.com")
    body = {"name": "D", "email": "DUP@example.com", "region": "EU", "credit_limit": "1.00"}
    response = staff.post("/api/customers/", body, format="json")
    assert response.status_code == 400
    assert "email" in response.json()["errors"]


def test_changing_the_credit_limit_publishes_customer_updated(
    staff: APIClient, make_customer
) -> None:
    from apps.events.selectors import store_find

    customer = make_customer(limit="10.00")
    staff.patch(f"/api/customers/{customer.id}/", {"credit_limit": "25.00"}, format="json")
    drain()
    (updated,) = store_find(message_type=CustomerUpdated.message_type)
    assert updated.message() == CustomerUpdated(
        customer_id=str(customer.id), region="EU", credit_limit="25.00"
    )


def test_the_admin_edits_the_limit_through_the_service(make_customer) -> None:
    from django.test import Client

    from apps.events.selectors import store_find

    customer = make_customer(limit="10.00")
    client = Client()
    client.force_login(User.objects.create_superuser("root", "r@example.com", "pw"))
    page = client.get(f"/admin/customers/customer/{customer.id}/change/")
    assert page.status_code == 200
    response = client.post(
        f"/admin/customers/customer/{customer.id}/change/",
        {"region": "EU", "credit_limit": "30.00", "reservations-TOTAL_FORMS": "0",
         "reservations-INITIAL_FORMS": "0"},
    )  # fmt: skip
    assert response.status_code == 302, response.content
    drain()
    assert [
        e.payload["credit_limit"] for e in store_find(message_type=CustomerUpdated.message_type)
    ] == ["30.00"]
    for page in ("/admin/orders/order/", "/admin/customers/customerorder/"):
        assert client.get(page).status_code == 200


def test_seed_demo_creates_customers_with_logins_and_orders() -> None:
    from django.core.management import call_command

    call_command("seed_demo")
    call_command("seed_demo")  # twice: nothing doubles
    assert Customer.objects.using("customers").count() == 3
    assert Order.objects.using("orders").count() == 3
    drain()
    states = sorted(Order.objects.using("orders").values_list("state", flat=True))
    assert states == ["APPROVED", "APPROVED", "REJECTED"]
    ada = APIClient()
    assert ada.login(username="ada", password="boxoffice-demo")
    assert len(ada.get("/api/customers/").json()["results"]) == 1


def test_the_logins_a_local_run_prints_work(settings, tmp_path) -> None:
    # `make run` prints them (ensure_superuser, seed_customers): each must log in.
    import io
    import re

    from django.core.management import call_command

    settings.RUN_DIR = tmp_path
    printed = io.StringIO()
    call_command("ensure_superuser", stdout=printed)
    call_command("seed_customers", stdout=printed)
    logins = re.findall(r"(?:admin login: |log in as )(\S+) / (\S+)", printed.getvalue())
    assert [user for user, _ in logins] == ["admin", "ada", "grace", "alan"]
    for username, password in logins:
        assert APIClient().login(username=username, password=password), username
    again = io.StringIO()
    call_command("ensure_superuser", stdout=again)  # the next run: the same admin login
    assert f"admin login: admin / {logins[0][1]}" in again.getvalue()


def test_an_overlong_email_is_a_400(staff: APIClient) -> None:
    email = "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".com"
    body = {"name": "Long", "email": email, "region": "EU", "credit_limit": "1.00"}
    response = staff.post("/api/customers/", body, format="json")
    assert response.status_code == 400
    assert Customer.objects.using("customers").count() == 0


def test_a_user_patching_someone_elses_customer_gets_404_and_their_own_403(
    make_customer, user_client
) -> None:
    alice, alice_client = user_client("alice")
    bob, _ = user_client("bob")
    mine, theirs = make_customer(owner=alice), make_customer(owner=bob)
    body = {"credit_limit": "999.00"}
    assert (
        alice_client.patch(f"/api/customers/{theirs.id}/", body, format="json").status_code == 404
    )
    assert alice_client.patch(f"/api/customers/{mine.id}/", body, format="json").status_code == 403


def test_the_same_key_with_the_same_amount_written_differently_is_the_same_request(
    staff: APIClient, make_customer
) -> None:
    customer = make_customer()
    first = {"customer_id": str(customer.id), "lines": [{**LINE, "unit_price": "5.0"}]}
    second = {"customer_id": str(customer.id), "lines": [{**LINE, "unit_price": "5.00"}]}
    a = staff.post("/api/orders/", first, format="json", HTTP_IDEMPOTENCY_KEY="same")
    b = staff.post("/api/orders/", second, format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert (a.status_code, b.status_code) == (202, 202)
    assert a.json() == b.json()


def test_the_admin_refuses_a_limit_below_what_is_reserved(make_customer) -> None:
    from django.test import Client

    customer = make_customer(limit="20.00")
    staff = APIClient()
    staff.force_authenticate(User.objects.create_user("s", is_staff=True))
    staff.post("/api/orders/", {"customer_id": str(customer.id), "lines": [LINE]}, format="json")
    drain()
    client = Client()
    client.force_login(User.objects.create_superuser("root", "r@example.com", "pw"))
    response = client.post(
        f"/admin/customers/customer/{customer.id}/change/",
        {"region": "EU", "credit_limit": "1.00", "reservations-TOTAL_FORMS": "0",
         "reservations-INITIAL_FORMS": "0"},
    )  # fmt: skip
    assert response.status_code == 200  # the form again, with the error
    assert b"reserved by open orders" in response.content
    assert Customer.objects.using("customers").get(pk=customer.id).credit_limit == 20
    assert client.get(f"/admin/customers/customer/{customer.id}/delete/").status_code == 403
