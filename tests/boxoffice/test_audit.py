"""`audit_consistency` finds every kind of breach it names, and passes a clean box office."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.bookings import services as bookings
from apps.bookings.models import Booking
from apps.customers.models import CreditReservation
from apps.events.testing import drain
from apps.ticketing.models import SeatAllocation

ALL = "__all__"


def audit() -> str:
    out = io.StringIO()
    call_command("audit_consistency", stdout=out)
    return out.getvalue()


def breaches(settle: str = "0") -> str:
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("audit_consistency", "--settle-seconds", settle, stdout=out)
    return out.getvalue()


@pytest.mark.django_db(databases=ALL)
def test_a_box_office_after_real_sagas_is_consistent(make_performance, make_customer) -> None:
    performance, customer = make_performance(), make_customer(limit="50.00")
    for quantity in (1, 2, 3):  # 20, 40 (refused: credit), 60 (refused: credit)
        bookings.booking_request(
            customer_id=customer.id, performance_id=performance.id, seats=[("Stalls", quantity)]
        )
    drain()
    assert "consistent" in audit()


@pytest.mark.django_db(databases=ALL)
def test_each_breach_is_named(make_performance, make_customer) -> None:
    performance, customer = make_performance(), make_customer(limit="10.00")
    section = performance.prices.using("ticketing").first().section
    sold_without_ticket = uuid.uuid4()
    SeatAllocation.objects.using("ticketing").create(
        performance=performance, section=section, row=1, number=1,
        booking_id=sold_without_ticket, status="SOLD", price=Decimal("20.00"),
    )  # fmt: skip
    confirmed = Booking.objects.using("bookings").create(
        customer_id=customer.id, performance_id=performance.id, state="CONFIRMED",
        seats_requested=[], seats=[{}], order_id=uuid.uuid4(), correlation_id=uuid.uuid4(),
    )  # fmt: skip
    stuck = Booking.objects.using("bookings").create(
        customer_id=customer.id, performance_id=performance.id, seats_requested=[],
        correlation_id=uuid.uuid4(),
    )  # fmt: skip
    Booking.objects.using("bookings").filter(pk=stuck.pk).update(
        updated_at=timezone.now() - timedelta(hours=1)
    )
    CreditReservation.objects.using("customers").create(
        order_id=uuid.uuid4(), customer=customer, amount=Decimal("11.00")
    )
    expired_with_open_order = Booking.objects.using("bookings").create(
        customer_id=customer.id, performance_id=performance.id, state="EXPIRED",
        seats_requested=[], order_id=uuid.uuid4(), correlation_id=uuid.uuid4(),
    )  # fmt: skip
    from apps.orders.models import Order

    Order.objects.using("orders").create(
        id=expired_with_open_order.order_id, customer_id=customer.id, total=Decimal("5.00"),
        state="APPROVED",
    )  # fmt: skip

    too_recent = breaches(settle="60")  # what may still be in flight waits
    assert f"booking {confirmed.pk} is CONFIRMED" not in too_recent
    assert f"booking {expired_with_open_order.pk}" not in too_recent
    report = breaches()

    assert (
        f"[ticketing.seats_sold_equal_tickets_issued] booking {sold_without_ticket}: 1 seat(s)"
        " sold but 0 ticket(s) issued" in report
    )
    assert f"booking {confirmed.pk} is CONFIRMED but its order" in report
    assert f"booking {stuck.pk} is stuck in REQUESTED" in report
    assert f"booking {expired_with_open_order.pk} is EXPIRED but its order" in report
    assert f"seats or tickets for booking {sold_without_ticket}, which bookings" in report
    assert f"customer {customer.id} has more reserved than its limit" in report
    # That reservation was written past the service: the customer's total missed it.
    assert f"customer {customer.id} has 0.00 reserved by its running total but 11.00" in report


def test_each_module_declares_the_invariants_it_owns() -> None:
    """The audit only runs them; a rule across modules is the saga's (bookings)."""
    from project.invariants import invariants

    assert [declared.name for declared in invariants()] == [
        "bookings.a_confirmed_booking_has_an_approved_order",
        "bookings.a_confirmed_booking_has_its_seats_sold",
        "bookings.an_ended_booking_holds_no_credit",
        "bookings.an_ended_booking_holds_no_seats",
        "bookings.no_booking_is_stuck",
        "bookings.seats_belong_to_a_known_booking",
        "customers.reservations_stay_within_the_credit_limit",
        "customers.the_reserved_total_matches_the_ledger",
        "ticketing.a_seat_is_held_or_sold_once_at_most",
        "ticketing.seats_sold_equal_tickets_issued",
    ]
