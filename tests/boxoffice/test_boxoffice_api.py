"""The box office's REST API: the catalogue (staff write), availability, bookings."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.bookings.models import Booking
from apps.bookings.models import IdempotencyKey as BookingKey
from apps.events.public.records import outbox_models
from apps.events.testing import drain
from apps.ticketing.models import Performance, Show, Venue

ALL = "__all__"
PROBLEM = "application/problem+json"


def catalogue(staff: APIClient) -> dict:
    venue = staff.post(
        "/api/venues/",
        {
            "name": "Apollo",
            "city": "London",
            "sections": [
                {"name": "Stalls", "rows": 2, "seats_per_row": 5},
                {"name": "Circle", "rows": 1, "seats_per_row": 4},
            ],
        },
        format="json",
    )
    assert venue.status_code == 201, venue.json()
    show = staff.post("/api/shows/", {"title": "Hamlet"}, format="json")
    assert show.status_code == 201
    performance = staff.post(
        "/api/performances/",
        {
            "show_id": show.json()["id"],
            "venue_id": venue.json()["id"],
            "starts_at": "2026-12-24T19:30:00+00:00",
            "prices": [
                {"section": "Stalls", "price": "20.00"},
                {"section": "Circle", "price": "35.00"},
            ],
        },
        format="json",
    )
    assert performance.status_code == 201, performance.json()
    return {"venue": venue.json(), "show": show.json(), "performance": performance.json()}


def rows_everywhere() -> tuple[int, ...]:
    outboxes = tuple(m.objects.using(a).count() for a, m in sorted(outbox_models().items()))
    return (
        Venue.objects.using("ticketing").count(),
        Show.objects.using("ticketing").count(),
        Performance.objects.using("ticketing").count(),
        Booking.objects.using("bookings").count(),
        BookingKey.objects.using("bookings").count(),
        *outboxes,
    )


@pytest.mark.django_db(databases=ALL)
def test_staff_build_the_catalogue_and_anyone_signed_in_reads_availability(
    staff: APIClient, user_client
) -> None:
    made = catalogue(staff)
    sections = made["venue"]["sections"]
    assert {s["name"]: s["capacity"] for s in sections} == {"Stalls": 10, "Circle": 4}
    assert all(s["id"] for s in sections)
    _, reader = user_client("reader")

    availability = reader.get(f"/api/performances/{made['performance']['id']}/availability/")

    assert availability.status_code == 200
    assert availability.json() == {
        "sections": [
            {"section": "Circle", "capacity": 4, "available": 4, "held": 0, "sold": 0,
             "price": "35.00"},
            {"section": "Stalls", "capacity": 10, "available": 10, "held": 0, "sold": 0,
             "price": "20.00"},
        ]
    }  # fmt: skip
    listed = reader.get("/api/performances/", {"show_id": made["show"]["id"]}).json()
    assert [p["id"] for p in listed["results"]] == [made["performance"]["id"]]


@pytest.mark.django_db(databases=ALL)
def test_only_staff_write_the_catalogue_and_anonymous_get_401(user_client) -> None:
    _, customer = user_client("patron")
    refused = customer.post("/api/shows/", {"title": "Hamlet"}, format="json")
    assert (refused.status_code, refused["Content-Type"]) == (403, PROBLEM)
    anonymous = APIClient().get("/api/venues/")
    assert (anonymous.status_code, anonymous["Content-Type"]) == (401, PROBLEM)


@pytest.mark.django_db(databases=ALL)
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/venues/", {"name": "X", "city": "Y", "sections": []}),
        ("/api/venues/", {"name": "X", "city": "Y", "sections": [{"name": "A", "rows": 0,
                                                                   "seats_per_row": 5}]}),
        ("/api/venues/", {"name": "X", "city": "Y", "sections": [
            {"name": "A", "rows": 1, "seats_per_row": 5}, {"name": "A", "rows": 1,
                                                          "seats_per_row": 5}]}),
        ("/api/performances/", {"show_id": "not-a-uuid", "venue_id": "x", "starts_at": "soon",
                                "prices": []}),
        ("/api/performances/", "MISSING_PRICE"),
        ("/api/performances/", "UNKNOWN_SHOW"),
    ],
)  # fmt: skip
def test_bad_catalogue_input_is_a_problem_and_writes_nothing(
    staff: APIClient, path: str, body: object
) -> None:
    made = catalogue(staff)
    base = {
        "show_id": made["show"]["id"],
        "venue_id": made["venue"]["id"],
        "starts_at": "2026-12-24T19:30:00+00:00",
    }
    if body == "MISSING_PRICE":
        body = {**base, "prices": [{"section": "Stalls", "price": "20.00"}]}
    elif body == "UNKNOWN_SHOW":
        prices = [{"section": name, "price": "1.00"} for name in ("Stalls", "Circle")]
        body = {**base, "show_id": made["venue"]["id"], "prices": prices}
    before = rows_everywhere()

    response = staff.post(path, body, format="json")

    assert response.status_code == 400, response.json()
    assert response["Content-Type"] == PROBLEM
    assert response.json()["errors"]
    assert rows_everywhere() == before


@pytest.mark.django_db(databases=ALL)
def test_a_customer_books_sees_the_saga_and_cancels(
    staff: APIClient, make_customer, user_client
) -> None:
    performance = catalogue(staff)["performance"]
    alice, client = user_client("alice")
    customer = make_customer(owner=alice, limit="100.00")
    body = {
        "customer_id": str(customer.id),
        "performance_id": performance["id"],
        "seats": [{"section": "Stalls", "quantity": 2}],
    }

    created = client.post("/api/bookings/", body, format="json")
    assert created.status_code == 202
    assert created.json()["state"] == "REQUESTED"
    booking_id = created.json()["id"]
    early = client.post(f"/api/bookings/{booking_id}/cancel/")
    assert (early.status_code, early["Content-Type"]) == (409, PROBLEM)
    drain()

    booking = client.get(f"/api/bookings/{booking_id}/").json()
    assert booking["state"] == "CONFIRMED"
    assert booking["total"] == "40.00"
    assert [(t["section"], t["row"], t["number"]) for t in booking["tickets"]] == [
        ("Stalls", 1, 1),
        ("Stalls", 1, 2),
    ]
    events = client.get(f"/api/bookings/{booking_id}/events/").json()
    assert events[0]["type"] == "ticketing.HoldSeats"
    assert events[-1]["type"] == "bookings.BookingConfirmed"

    assert client.post(f"/api/bookings/{booking_id}/cancel/").status_code == 202
    drain()
    assert client.get(f"/api/bookings/{booking_id}/").json()["state"] == "CANCELLED"
    # The booking's saga goes on with the cancel's compensations, in its timeline.
    after = [e["type"] for e in client.get(f"/api/bookings/{booking_id}/events/").json()]
    assert after[: len(events)] == [e["type"] for e in events]
    assert sorted(after[len(events) :]) == [
        "bookings.BookingCancelled", "customers.CreditReleased", "orders.CancelOrder",
        "orders.OrderCancelled", "ticketing.ReleaseSeats", "ticketing.SeatsReleased",
    ]  # fmt: skip
    listed = client.get("/api/bookings/", {"state": "CANCELLED"}).json()["results"]
    assert [b["id"] for b in listed] == [booking_id]


@pytest.mark.django_db(databases=ALL)
def test_others_bookings_are_404_and_booking_for_another_customer_is_refused(
    staff: APIClient, make_customer, user_client
) -> None:
    performance = catalogue(staff)["performance"]
    _, alice_client = user_client("alice")
    bob, bob_client = user_client("bob")
    bobs = make_customer(owner=bob, limit="100.00")
    seats = [{"section": "Stalls", "quantity": 1}]
    body = {"customer_id": str(bobs.id), "performance_id": performance["id"], "seats": seats}
    bobs_booking = bob_client.post("/api/bookings/", body, format="json").json()["id"]

    assert alice_client.get(f"/api/bookings/{bobs_booking}/").status_code == 404
    assert alice_client.get(f"/api/bookings/{bobs_booking}/events/").status_code == 404
    assert alice_client.post(f"/api/bookings/{bobs_booking}/cancel/").status_code == 404
    assert alice_client.get("/api/bookings/").json()["results"] == []
    before = rows_everywhere()
    assert alice_client.post("/api/bookings/", body, format="json").status_code == 404
    assert rows_everywhere() == before


@pytest.mark.django_db(databases=ALL)
@pytest.mark.parametrize(
    "change",
    [
        {"seats": [{"section": "Stalls", "quantity": 0}]},
        {"seats": [{"section": "Stalls", "quantity": "two"}]},
        {"seats": [{"section": "Balcony", "quantity": 1}]},
        {"seats": []},
        {"seats": [{"section": "Stalls", "quantity": 1}, {"section": "Stalls", "quantity": 1}]},
        {"performance_id": "00000000-0000-0000-0000-000000000000"},
        {"performance_id": "nope"},
        {"customer_id": None},
    ],
)
def test_bad_booking_input_is_a_problem_and_writes_nothing(
    staff: APIClient, make_customer, change: dict
) -> None:
    performance = catalogue(staff)["performance"]
    customer = make_customer(limit="100.00")
    body = {
        "customer_id": str(customer.id),
        "performance_id": performance["id"],
        "seats": [{"section": "Stalls", "quantity": 1}],
        **change,
    }
    before = rows_everywhere()
    response = staff.post("/api/bookings/", body, format="json")
    assert response.status_code == 400, response.json()
    assert response["Content-Type"] == PROBLEM
    assert rows_everywhere() == before


@pytest.mark.django_db(databases=ALL)
def test_malformed_json_is_a_problem(staff: APIClient) -> None:
    response = staff.post("/api/bookings/", "{not json", content_type="application/json")
    assert (response.status_code, response["Content-Type"]) == (400, PROBLEM)


@pytest.mark.django_db(databases=ALL)
def test_the_same_idempotency_key_books_once(staff: APIClient, make_customer) -> None:
    performance = catalogue(staff)["performance"]
    customer = make_customer(limit="100.00")
    body = {
        "customer_id": str(customer.id),
        "performance_id": performance["id"],
        "seats": [{"section": "Circle", "quantity": 1}],
    }
    first = staff.post("/api/bookings/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = staff.post("/api/bookings/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    other = staff.post(
        "/api/bookings/",
        {**body, "seats": [{"section": "Circle", "quantity": 2}]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert (first.status_code, again.status_code, other.status_code) == (202, 202, 422)
    assert again.json() == first.json()
    assert Booking.objects.using("bookings").count() == 1
