"""Book Seats with real Celery workers on the configured broker (Redis in CI): a crash in
the middle of sagas, expiry driven by beat, and the whole flow over HTTP."""

from __future__ import annotations

import io
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from apps.bookings import services as bookings
from apps.bookings.models import Booking
from apps.customers.public.queries import customers_reserved_out_of_step
from apps.customers.selectors import customer_reserved_credit
from apps.events.public.records import outbox_models
from apps.events.selectors import store_find
from apps.events.services import outbox_pending
from apps.orders.models import Order
from apps.ticketing.models import SeatAllocation
from tests.workers import kill, wait_until, worker_process

ALL = "__all__"
FINAL = {"CONFIRMED", "REJECTED", "EXPIRED", "CANCELLED"}
BOOKINGS = 150  # for 40 seats


def states() -> Counter[str]:
    return Counter(Booking.objects.using("bookings").values_list("state", flat=True))


def per_booking(message_type: str) -> Counter[str]:
    return Counter(e.aggregate_id for e in store_find(message_type=message_type))


@pytest.mark.e2e
@pytest.mark.django_db(databases=ALL, transaction=True)
def test_a_worker_killed_mid_saga_and_restarted_ends_every_booking_exactly_once(
    django_db_setup: str, clean_store: None, make_performance, make_customer, tmp_path: Path
) -> None:
    performance = make_performance({"Stalls": (4, 10, "20.00")})
    customers = [make_customer(limit="1000.00") for _ in range(5)]
    with worker_process(django_db_setup, tmp_path) as first:
        for i in range(BOOKINGS):
            bookings.booking_request(
                customer_id=customers[i % 5].id,
                performance_id=performance.id,
                seats=[("Stalls", 1)],
            )
        wait_until(lambda: states()["REQUESTED"] < BOOKINGS)  # the sagas are under way
        kill(first)  # as a lost machine: mid-batch, tasks unacknowledged
    unfinished = sum(n for state, n in states().items() if state not in FINAL)
    assert unfinished > 0, "the crash came after every saga had ended: nothing was tested"

    with worker_process(django_db_setup, tmp_path):
        wait_until(lambda: set(states()) <= FINAL, timeout=120)
        wait_until(lambda: not any(outbox_pending(module=m) for m in outbox_models()))

    assert states() == Counter({"CONFIRMED": 40, "REJECTED": BOOKINGS - 40})
    confirmed = {str(pk) for pk in Booking.objects.using("bookings").filter(state="CONFIRMED")
                 .values_list("pk", flat=True)}  # fmt: skip
    # Exactly once: one answer per command, one ending per booking.
    assert set(per_booking("ticketing.TicketsIssued").values()) == {1}
    assert set(per_booking("ticketing.TicketsIssued")) == confirmed
    assert set(per_booking("bookings.BookingConfirmed")) == confirmed
    assert (
        sum(per_booking("ticketing.SeatsHeld").values())
        + sum(per_booking("ticketing.SeatsUnavailable").values())
        == BOOKINGS
    )
    seats = list(SeatAllocation.objects.using("ticketing").values_list("row", "number"))
    assert len(seats) == len(set(seats)) == 40
    call_command("audit_consistency", stdout=io.StringIO())


@pytest.mark.e2e
@pytest.mark.django_db(databases=ALL, transaction=True)
def test_beat_expires_an_unpaid_hold_and_a_restart_settles_its_credit(
    django_db_setup: str, clean_store: None, make_performance, make_customer, tmp_path: Path
) -> None:
    performance, customer = make_performance(), make_customer(limit="100.00")
    no_credit_check = "events,orders,ticketing,bookings"  # customers' workers are down
    with worker_process(
        django_db_setup, tmp_path, queues=no_credit_check,
        environment={"BOOKING_HOLD_SECONDS": "1"},
    ):  # fmt: skip
        booking = bookings.booking_request(
            customer_id=customer.id, performance_id=performance.id, seats=[("Stalls", 2)]
        )
        wait_until(lambda: Booking.objects.using("bookings").get(pk=booking.pk).state == "EXPIRED")
        wait_until(lambda: not SeatAllocation.objects.using("ticketing").exists())

    with worker_process(django_db_setup, tmp_path):  # customers' workers are back
        order = Order.objects.using("orders")
        wait_until(lambda: order.get(pk=Booking.objects.using("bookings").get(
            pk=booking.pk).order_id).state == "CANCELLED")  # fmt: skip
        wait_until(lambda: customer_reserved_credit(customer_id=customer.id) == 0)
        time.sleep(1)  # a late reservation would show by now
    assert customer_reserved_credit(customer_id=customer.id) == Decimal("0.00")
    assert customers_reserved_out_of_step() == []  # the ledger agrees
    call_command("audit_consistency", stdout=io.StringIO())


@pytest.mark.e2e
@pytest.mark.django_db(databases=ALL, transaction=True)
def test_book_seats_over_http_with_a_real_worker(
    django_db_setup: str, clean_store: None, make_performance, tmp_path: Path
) -> None:
    from django.contrib.auth.models import User

    performance = make_performance()
    User.objects.create_user("boss", password="secret-pw-2", is_staff=True)
    http = Client()
    token = http.post(
        "/api/auth/token/",
        {"username": "boss", "password": "secret-pw-2"},
        content_type="application/json",
    ).json()["token"]
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}

    def post(path: str, body: dict | None = None) -> dict:
        response = http.post(path, body or {}, content_type="application/json", **auth)
        assert response.status_code in (201, 202), response.content
        return response.json()

    def booking(booking_id: str) -> dict:
        return http.get(f"/api/bookings/{booking_id}/", **auth).json()

    with worker_process(django_db_setup, tmp_path):
        customer = post(
            "/api/customers/",
            {"name": "Ada", "email": "ada@example.com", "region": "EU", "credit_limit": "60.00"},
        )
        ask = {"customer_id": customer["id"], "performance_id": str(performance.id)}
        paid = post("/api/bookings/", {**ask, "seats": [{"section": "Stalls", "quantity": 2}]})
        too_dear = post("/api/bookings/", {**ask, "seats": [{"section": "Circle", "quantity": 2}]})
        wait_until(
            lambda: {booking(paid["id"])["state"], booking(too_dear["id"])["state"]} <= FINAL
        )
        assert booking(paid["id"])["state"] == "CONFIRMED"
        assert booking(too_dear["id"])["state"] == "REJECTED"
        assert booking(too_dear["id"])["reason"] == "INSUFFICIENT_CREDIT"

        post(f"/api/bookings/{paid['id']}/cancel/")
        wait_until(lambda: booking(paid["id"])["state"] == "CANCELLED")
        wait_until(
            lambda: (
                http.get(f"/api/customers/{customer['id']}/", **auth).json()["available_credit"]
                == "60.00"
            )
        )
    availability = http.get(f"/api/performances/{performance.id}/availability/", **auth).json()
    assert all(s["available"] == s["capacity"] for s in availability["sections"])
