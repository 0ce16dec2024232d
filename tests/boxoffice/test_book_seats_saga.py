"""The Book Seats saga through the real event path: outboxes, store, every subscriber."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.bookings import services as bookings
from apps.bookings.models import Booking
from apps.customers.public.queries import customers_reserved_out_of_step
from apps.customers.selectors import customer_reserved_credit
from apps.events.public.queries import saga_of
from apps.events.public.subscriptions import subscribers
from apps.events.services import outboxes_relay_all, subscriber_deliver
from apps.events.testing import drain
from apps.orders.models import Order
from apps.ticketing.models import SeatAllocation, Ticket
from apps.ticketing.selectors import performance_availability
from tests.threads import in_threads

ALL = "__all__"


def book(customer, performance, **quantities: int) -> Booking:
    booking = bookings.booking_request(
        customer_id=customer.id, performance_id=performance.id, seats=list(quantities.items())
    )
    return booking


def fresh(booking: Booking) -> Booking:
    return Booking.objects.using("bookings").get(pk=booking.pk)


def stalls(performance) -> tuple[int, int, int]:
    [section] = [
        s for s in performance_availability(performance_id=performance.id) if s.section == "Stalls"
    ]
    return section.available, section.held, section.sold


def drain_except(*skipped: str) -> None:
    """Run the bus with some subscribers stopped (their messages wait for them)."""
    for _ in range(50):
        moved = outboxes_relay_all()
        handled = sum(
            subscriber_deliver(name=s.name).handled
            for s in subscribers.all()
            if s.name not in skipped
        )
        if not moved and not handled:
            return
    raise RuntimeError("the bus did not settle")


@pytest.mark.django_db(databases=ALL)
def test_two_seats_end_confirmed_with_tickets_an_approved_order_and_the_seats_sold(
    make_performance, make_customer
) -> None:
    performance, customer = make_performance(), make_customer(limit="500.00")
    booking = book(customer, performance, Stalls=2)
    drain()

    booking = fresh(booking)
    assert booking.state == "CONFIRMED"
    assert len(booking.tickets) == 2
    assert booking.total == Decimal("40.00")
    order = Order.objects.using("orders").get(pk=booking.order_id)
    assert (order.state, order.total, order.origin) == ("APPROVED", Decimal("40.00"), booking.id)
    assert stalls(performance) == (8, 0, 2)
    assert Ticket.objects.using("ticketing").filter(booking_id=booking.id).count() == 2
    assert customer_reserved_credit(customer_id=customer.id) == Decimal("40.00")
    assert customers_reserved_out_of_step() == []  # the ledger agrees
    its_order = [str(booking.order_id)]
    assert [e.type for e in saga_of(aggregate_id=str(booking.id))] == [
        "ticketing.HoldSeats",
        "ticketing.SeatsHeld",
        "ticketing.IssueTickets",
        "ticketing.TicketsIssued",
        "bookings.BookingConfirmed",
    ]  # the booking's own; its order's messages are asked for below
    timeline = [e.type for e in saga_of(aggregate_id=str(booking.id), with_aggregates=its_order)]
    assert timeline == [
        "ticketing.HoldSeats",
        "ticketing.SeatsHeld",
        "orders.PlaceOrder",
        "orders.OrderPlaced",
        "customers.CreditReserved",
        "orders.OrderApproved",
        "ticketing.IssueTickets",
        "ticketing.TicketsIssued",
        "bookings.BookingConfirmed",
    ]


@pytest.mark.django_db(databases=ALL)
def test_not_enough_seats_is_rejected_and_holds_nothing(make_performance, make_customer) -> None:
    performance, customer = make_performance(), make_customer(limit="500.00")
    booking = book(customer, performance, Stalls=11)
    drain()

    booking = fresh(booking)
    assert (booking.state, booking.reason) == ("REJECTED", "NOT_ENOUGH_SEATS")
    assert not SeatAllocation.objects.using("ticketing").exists()
    assert booking.order_id is None


@pytest.mark.django_db(databases=ALL)
def test_insufficient_credit_releases_the_seats_and_rejects_booking_and_order(
    make_performance, make_customer
) -> None:
    performance, customer = make_performance(), make_customer(limit="30.00")
    booking = book(customer, performance, Stalls=2)  # 40.00
    drain()

    booking = fresh(booking)
    assert (booking.state, booking.reason) == ("REJECTED", "INSUFFICIENT_CREDIT")
    assert Order.objects.using("orders").get(pk=booking.order_id).state == "REJECTED"
    assert stalls(performance) == (10, 0, 0)
    assert customer_reserved_credit(customer_id=customer.id) == 0
    assert customers_reserved_out_of_step() == []  # the ledger agrees


@pytest.mark.django_db(databases=ALL)
def test_an_unpaid_hold_expires_seats_free_order_cancelled_credit_free(
    make_performance, make_customer
) -> None:
    performance, customer = make_performance(), make_customer(limit="500.00")
    booking = book(customer, performance, Stalls=2)
    drain_except("customers")  # the credit check is held back: no payment
    assert fresh(booking).state == "AWAITING_PAYMENT"
    assert stalls(performance) == (8, 2, 0)

    assert bookings.bookings_expire(now=timezone.now()) == 0  # not due yet
    assert bookings.bookings_expire(now=timezone.now() + timedelta(hours=1)) == 1
    drain()  # the credit check runs late: it reserves, then the cancel releases

    booking = fresh(booking)
    assert booking.state == "EXPIRED"
    assert stalls(performance) == (10, 0, 0)
    assert Order.objects.using("orders").get(pk=booking.order_id).state == "CANCELLED"
    assert customer_reserved_credit(customer_id=customer.id) == 0
    assert customers_reserved_out_of_step() == []  # the ledger agrees
    assert not Ticket.objects.using("ticketing").filter(voided_at__isnull=True).exists()


@pytest.mark.django_db(databases=ALL)
def test_a_paid_booking_never_expires(make_performance, make_customer) -> None:
    performance, customer = make_performance(), make_customer(limit="500.00")
    booking = book(customer, performance, Stalls=1)
    outboxes_relay_all()
    subscriber_deliver(name="ticketing")  # the seats are held
    drain_except("ticketing")  # approved, but the tickets are not issued yet
    assert fresh(booking).state == "AWAITING_PAYMENT"

    assert bookings.bookings_expire(now=timezone.now() + timedelta(days=1)) == 0
    drain()
    assert fresh(booking).state == "CONFIRMED"


@pytest.mark.django_db(databases=ALL)
def test_cancelling_a_confirmed_booking_releases_seats_and_credit(
    make_performance, make_customer
) -> None:
    performance, customer = make_performance(), make_customer(limit="500.00")
    booking = book(customer, performance, Stalls=2)
    drain()
    with pytest.raises(bookings.BookingNotCancellable):
        bookings.booking_cancel(booking_id=uuid.uuid4())

    bookings.booking_cancel(booking_id=booking.id)
    drain()

    booking = fresh(booking)
    assert booking.state == "CANCELLED"
    assert stalls(performance) == (10, 0, 0)
    assert Order.objects.using("orders").get(pk=booking.order_id).state == "CANCELLED"
    assert customer_reserved_credit(customer_id=customer.id) == 0
    assert customers_reserved_out_of_step() == []  # the ledger agrees
    assert not Ticket.objects.using("ticketing").filter(voided_at__isnull=True).exists()
    with pytest.raises(bookings.BookingNotCancellable):
        bookings.booking_cancel(booking_id=booking.id)


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_a_hundred_concurrent_booking_requests_for_forty_seats_sell_exactly_forty(
    make_performance, make_customer, clean_store: None
) -> None:
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from rest_framework.test import APIClient

    performance = make_performance({"Stalls": (4, 10, "20.00")})
    customers = [make_customer(limit="1000.00") for _ in range(10)]
    clerk = User.objects.create_user("clerk", is_staff=True)

    def client_books(customer) -> None:
        client = APIClient()
        client.force_authenticate(clerk)
        body = {
            "customer_id": str(customer.id),
            "performance_id": str(performance.id),
            "seats": [{"section": "Stalls", "quantity": 1}],
        }
        for _ in range(10):
            assert client.post("/api/bookings/", body, format="json").status_code == 202

    # Ten clients at once, ten requests each (connections per client: the
    # server allows 100 in all).
    in_threads([lambda c=c: client_books(c) for c in customers])
    drain()

    states = list(Booking.objects.using("bookings").values_list("state", flat=True))
    assert len(states) == 100
    assert states.count("CONFIRMED") == 40
    assert states.count("REJECTED") == 60
    seats = list(
        SeatAllocation.objects.using("ticketing").values_list("section_id", "row", "number")
    )
    assert len(seats) == len(set(seats)) == 40
    assert stalls(performance) == (0, 0, 40)
    call_command("audit_consistency")  # exits non-zero on any breach


@pytest.mark.django_db(databases=ALL)
def test_a_bookings_order_cannot_be_cancelled_on_its_own(
    make_performance, make_customer, staff
) -> None:
    performance, customer = make_performance(), make_customer(limit="500.00")
    booking = book(customer, performance, Stalls=2)
    drain()
    order_id = fresh(booking).order_id

    refused = staff.post(f"/api/orders/{order_id}/cancel/")

    assert refused.status_code == 409
    assert "cancel the booking" in refused.json()["detail"]
    assert Order.objects.using("orders").get(pk=order_id).state == "APPROVED"


@pytest.mark.django_db(databases=ALL)
def test_an_order_cancelled_behind_the_sagas_back_still_frees_the_seats(
    make_performance, make_customer
) -> None:
    from apps.orders import services as orders

    performance, customer = make_performance(), make_customer(limit="500.00")
    confirmed, waiting = (
        book(customer, performance, Stalls=2),
        book(customer, performance, Stalls=1),
    )
    drain()
    outboxes_relay_all()
    bookings.booking_request(  # a third one, left waiting for payment
        customer_id=customer.id, performance_id=performance.id, seats=[("Circle", 1)]
    )
    drain_except("customers")
    pending = Booking.objects.using("bookings").get(state="AWAITING_PAYMENT")

    for booking in (confirmed, pending):
        orders.order_cancel(order_id=fresh(booking).order_id, for_origin=True)  # not the saga
    drain()

    assert fresh(confirmed).state == "CANCELLED"
    assert (fresh(pending).state, fresh(pending).reason) == ("REJECTED", "ORDER_CANCELLED")
    assert fresh(waiting).state == "CONFIRMED"
    assert stalls(performance) == (9, 0, 1)
    assert (
        not Ticket.objects.using("ticketing")
        .filter(booking_id=confirmed.id, voided_at__isnull=True)
        .exists()
    )
    call_command_audit()


def call_command_audit() -> None:
    import io

    from django.core.management import call_command

    call_command("audit_consistency", stdout=io.StringIO())


@pytest.mark.django_db(databases=ALL)
def test_an_expiry_that_raced_the_payment_loses(make_performance, make_customer) -> None:
    from apps.bookings import saga

    performance, customer = make_performance(), make_customer(limit="500.00")
    booking = book(customer, performance, Stalls=1)
    outboxes_relay_all()
    subscriber_deliver(name="ticketing")
    drain_except("ticketing")  # approved: the deadline is cleared, tickets not issued yet
    assert fresh(booking).state == "AWAITING_PAYMENT"

    # As if the expiry had picked the booking just before the approval committed.
    assert not bookings.booking_advance(booking_id=booking.id, trigger=saga.HOLD_EXPIRED)
    drain()
    assert fresh(booking).state == "CONFIRMED"
