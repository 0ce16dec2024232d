"""Ticketing: the catalogue, and seats held, released and sold through the saga's commands."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.events.public import publish
from apps.events.selectors import store_find
from apps.events.testing import drain
from apps.ticketing import services as ticketing
from apps.ticketing.models import BookingHold, SeatAllocation, Ticket
from apps.ticketing.public.messages import HoldSeats, IssueTickets, ReleaseSeats, SeatRequest
from apps.ticketing.selectors import performance_availability
from tests.threads import in_threads

ALL = "__all__"


def send(command: object) -> None:
    """Send a command as the booking saga does: from the bookings module's outbox."""
    with transaction.atomic(using="bookings"):
        publish(command, source="bookings")  # type: ignore[arg-type]
    drain()


def hold(performance_id: uuid.UUID, **quantities: int) -> str:
    booking_id = str(uuid.uuid4())
    seats = tuple(SeatRequest(section=name, quantity=q) for name, q in quantities.items())
    send(HoldSeats(booking_id=booking_id, performance_id=str(performance_id), seats=seats))
    return booking_id


def replies(message_type: str, booking_id: str) -> list[dict]:
    return [
        e.payload for e in store_find(message_type=message_type) if e.aggregate_id == booking_id
    ]


def availability(performance_id: uuid.UUID) -> dict[str, tuple[int, int, int]]:
    return {
        s.section: (s.available, s.held, s.sold)
        for s in performance_availability(performance_id=performance_id)
    }


def test_seats_are_picked_side_by_side_in_the_front_most_row_that_has_them() -> None:
    free = {1: [1, 2, 4, 5], 2: [1, 2, 3, 4, 5]}
    assert ticketing.seats_pick(free, 2) == [(1, 1), (1, 2)]
    assert ticketing.seats_pick(free, 3) == [(2, 1), (2, 2), (2, 3)]
    assert ticketing.seats_pick({1: [1, 3], 2: [2]}, 3) == [(1, 1), (1, 3), (2, 2)]
    assert ticketing.seats_pick({1: [1]}, 2) is None


@pytest.mark.django_db(databases=ALL)
def test_a_hold_takes_contiguous_seats_and_answers_with_them_and_the_total(
    make_performance,
) -> None:
    performance = make_performance()
    booking_id = hold(performance.id, Stalls=2, Circle=1)

    [held] = replies("ticketing.SeatsHeld", booking_id)
    seats = [(s["section"], s["row"], s["number"], s["price"]) for s in held["seats"]]
    assert seats == [
        ("Stalls", 1, 1, "20.00"),
        ("Stalls", 1, 2, "20.00"),
        ("Circle", 1, 1, "35.00"),
    ]
    assert held["total"] == "75.00"
    assert availability(performance.id) == {"Circle": (3, 1, 0), "Stalls": (8, 2, 0)}


@pytest.mark.django_db(databases=ALL)
def test_not_enough_seats_in_one_section_holds_nothing_anywhere(make_performance) -> None:
    performance = make_performance()
    booking_id = hold(performance.id, Stalls=2, Circle=5)  # the circle has 4

    [unavailable] = replies("ticketing.SeatsUnavailable", booking_id)
    assert unavailable["reason"] == "NOT_ENOUGH_SEATS"
    assert not SeatAllocation.objects.using("ticketing").exists()
    assert replies("ticketing.SeatsHeld", booking_id) == []


@pytest.mark.django_db(databases=ALL)
def test_unknown_performance_or_section_is_unavailable(make_performance) -> None:
    performance = make_performance()
    unknown_section = hold(performance.id, Balcony=1)
    unknown_performance = hold(uuid.uuid4(), Stalls=1)
    assert replies("ticketing.SeatsUnavailable", unknown_section)[0]["reason"] == "UNKNOWN_SECTION"
    assert (
        replies("ticketing.SeatsUnavailable", unknown_performance)[0]["reason"]
        == "UNKNOWN_PERFORMANCE"
    )


@pytest.mark.django_db(databases=ALL)
def test_a_second_hold_for_the_same_booking_changes_nothing(make_performance) -> None:
    performance = make_performance()
    booking_id = hold(performance.id, Stalls=2)
    seats = tuple([SeatRequest(section="Stalls", quantity=2)])
    send(HoldSeats(booking_id=booking_id, performance_id=str(performance.id), seats=seats))

    assert SeatAllocation.objects.using("ticketing").count() == 2
    assert len(replies("ticketing.SeatsHeld", booking_id)) == 1


@pytest.mark.django_db(databases=ALL)
def test_release_frees_the_seats_for_the_next_booking(make_performance) -> None:
    performance = make_performance({"Stalls": (1, 2, "20.00")})
    first = hold(performance.id, Stalls=2)
    second = hold(performance.id, Stalls=2)
    assert replies("ticketing.SeatsUnavailable", second)

    send(ReleaseSeats(booking_id=first))
    third = hold(performance.id, Stalls=2)

    [released] = replies("ticketing.SeatsReleased", first)
    assert [(s["row"], s["number"]) for s in released["seats"]] == [(1, 1), (1, 2)]
    assert replies("ticketing.SeatsHeld", third)
    send(ReleaseSeats(booking_id=first))  # again: nothing more
    assert len(replies("ticketing.SeatsReleased", first)) == 1


@pytest.mark.django_db(databases=ALL)
def test_a_release_that_overtakes_its_hold_wins(make_performance) -> None:
    performance = make_performance()
    booking_id = str(uuid.uuid4())
    send(ReleaseSeats(booking_id=booking_id))
    seats = (SeatRequest(section="Stalls", quantity=1),)
    send(HoldSeats(booking_id=booking_id, performance_id=str(performance.id), seats=seats))

    assert not SeatAllocation.objects.using("ticketing").exists()
    assert replies("ticketing.SeatsHeld", booking_id) == []


@pytest.mark.django_db(databases=ALL)
def test_issuing_sells_the_held_seats_with_one_uniquely_coded_ticket_each(
    make_performance,
) -> None:
    performance = make_performance()
    booking_id = hold(performance.id, Stalls=3)
    send(IssueTickets(booking_id=booking_id))
    send(IssueTickets(booking_id=booking_id))  # a second time: nothing more

    [issued] = replies("ticketing.TicketsIssued", booking_id)
    codes = [t["code"] for t in issued["tickets"]]
    assert len(set(codes)) == 3
    assert Ticket.objects.using("ticketing").count() == 3
    assert availability(performance.id)["Stalls"] == (7, 0, 3)

    send(ReleaseSeats(booking_id=booking_id))  # a customer cancel: tickets voided
    [released] = replies("ticketing.SeatsReleased", booking_id)
    assert sorted(released["tickets_voided"]) == sorted(codes)
    assert not Ticket.objects.using("ticketing").filter(voided_at__isnull=True).exists()
    assert availability(performance.id)["Stalls"] == (10, 0, 0)


@pytest.mark.django_db(databases=ALL)
def test_a_released_hold_gets_no_tickets(make_performance) -> None:
    performance = make_performance()
    booking_id = hold(performance.id, Stalls=1)
    send(ReleaseSeats(booking_id=booking_id))
    send(IssueTickets(booking_id=booking_id))
    assert not Ticket.objects.using("ticketing").exists()
    assert BookingHold.objects.using("ticketing").get(pk=booking_id).state == "RELEASED"


@pytest.mark.django_db(databases=["ticketing"])
def test_the_database_refuses_a_seat_for_two_bookings(make_performance) -> None:
    performance = make_performance()
    section = performance.prices.using("ticketing").first().section
    seat = {"performance": performance, "section": section, "row": 1, "number": 1}
    SeatAllocation.objects.using("ticketing").create(
        booking_id=uuid.uuid4(), price=Decimal("1.00"), **seat
    )
    with pytest.raises(IntegrityError), transaction.atomic(using="ticketing"):
        SeatAllocation.objects.using("ticketing").create(
            booking_id=uuid.uuid4(), price=Decimal("1.00"), **seat
        )


@pytest.mark.django_db(databases=["ticketing"])
def test_a_performance_needs_a_price_for_every_section_and_no_other(make_performance) -> None:
    performance = make_performance()
    with pytest.raises(ValidationError) as refused:
        ticketing.performance_create(
            show_id=performance.show_id,
            venue_id=performance.venue_id,
            starts_at=performance.starts_at,
            prices={"Stalls": Decimal("10.00"), "Balcony": Decimal("5.00")},
        )
    assert refused.value.message_dict["prices"] == [
        "No section 'Balcony' at this venue.",
        "Section 'Circle' needs a price.",
    ]


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_concurrent_holds_for_the_last_seats_never_give_a_seat_twice(make_performance) -> None:
    performance = make_performance({"Stalls": (4, 10, "20.00")})  # 40 seats
    bookings = [uuid.uuid4() for _ in range(30)]  # 30 x 3 seats asked for 40
    in_threads(
        [
            lambda booking_id=booking_id: ticketing.seats_hold(
                booking_id=booking_id, performance_id=performance.id, requests=[("Stalls", 3)]
            )
            for booking_id in bookings
        ]
    )
    allocations = SeatAllocation.objects.using("ticketing").filter(performance=performance)
    seats = list(allocations.values_list("row", "number"))
    assert len(seats) == len(set(seats)) == 39  # 13 holds of 3 fit in 40
    states = BookingHold.objects.using("ticketing").values_list("state", flat=True)
    assert sorted(set(states)) == ["HELD", "UNAVAILABLE"]
    assert list(states).count("HELD") == 13


@pytest.mark.django_db(databases=ALL)
def test_the_admin_shows_a_performance_seat_map(make_performance, client) -> None:
    from django.contrib.auth.models import User

    performance = make_performance({"Stalls": (2, 3, "20.00")})
    booking_id = hold(performance.id, Stalls=2)
    send(IssueTickets(booking_id=booking_id))
    hold(performance.id, Stalls=1)
    client.force_login(User.objects.create_superuser("boss", password="pw"))

    page = client.get(f"/admin/ticketing/performance/{performance.pk}/change/")

    assert page.status_code == 200
    assert "S S H\n· · ·" in page.content.decode()
    for listing in ("seatallocation", "bookinghold", "ticket", "venue", "show"):
        assert client.get(f"/admin/ticketing/{listing}/").status_code == 200


@pytest.mark.django_db(databases=ALL)
def test_seed_demo_adds_a_box_office_once() -> None:
    from django.core.management import call_command

    from apps.ticketing.models import Performance

    call_command("seed_ticketing")
    call_command("seed_ticketing")
    assert Performance.objects.using("ticketing").count() == 3
