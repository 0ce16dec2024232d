"""Moving `orders` to another PostgreSQL server while sagas are in flight, the way
docs/splitting-out.md says: stop its workers, `move_module`, switch its URL, start
its workers. Every saga ends, nothing is lost or done twice, the audit is clean."""

from __future__ import annotations

import contextlib
import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections

from apps.bookings import services as bookings
from apps.bookings.models import Booking
from apps.events.public.records import outbox_models
from apps.events.selectors import store_find
from apps.events.services import outbox_pending
from apps.orders.models import Order
from project.database_settings import parse_url
from project.provisioning import conninfo, database_url
from tests.servers import second_server
from tests.workers import wait_until, worker_process

ALL = "__all__"
FINAL = {"CONFIRMED", "REJECTED", "EXPIRED", "CANCELLED"}
BOOKINGS = 60  # for 40 seats
NOT_ORDERS = "events,customers,ticketing,bookings"


def states() -> Counter[str]:
    return Counter(Booking.objects.using("bookings").values_list("state", flat=True))


@contextlib.contextmanager
def orders_configured_at(owner: dict) -> Iterator[None]:
    """Switch this process's `orders` alias (and its owner) to another server, as a
    new ORDERS_DATABASE_URL would; the workers started inside get it too."""
    saved = (dict(settings.DATABASES["orders"]), settings.DATABASE_OWNERS["orders"])
    where = {"HOST": owner.get("HOST"), "PORT": owner.get("PORT"), "NAME": owner["NAME"]}
    connections["orders"].close()
    settings.DATABASES["orders"].update(where)
    connections["orders"].settings_dict.update(where)
    settings.DATABASE_OWNERS["orders"] = owner
    try:
        yield
    finally:
        connections["orders"].close()
        settings.DATABASES["orders"].clear()
        settings.DATABASES["orders"].update(saved[0])
        connections["orders"].settings_dict.update(saved[0])
        settings.DATABASE_OWNERS["orders"] = saved[1]


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_orders_moves_to_another_server_while_sagas_are_in_flight(
    django_db_setup: str, clean_store: None, make_performance, make_customer, tmp_path: Path
) -> None:
    performance = make_performance({"Stalls": (4, 10, "20.00")})
    customers = [make_customer(limit="1000.00") for _ in range(5)]
    with (
        second_server(tmp_path / "second") as second_owner_url,
        worker_process(django_db_setup, tmp_path, queues=NOT_ORDERS),
    ):

        def book(count: int) -> None:
            for i in range(count):
                bookings.booking_request(
                    customer_id=customers[i % 5].id,
                    performance_id=performance.id,
                    seats=[("Stalls", 1)],
                )

        with worker_process(django_db_setup, tmp_path, queues="orders", beat=False):
            book(BOOKINGS // 3)
            wait_until(lambda: Order.objects.using("orders").count() >= 5)
        # The orders workers are stopped: the sagas booked from now on wait for
        # them, in the store (however fast the first ones ended).
        book(BOOKINGS - BOOKINGS // 3)
        in_flight = sum(n for state, n in states().items() if state not in FINAL)
        assert in_flight > 0, "every saga ended before the move: nothing was tested"
        orders_before = Order.objects.using("orders").count()

        target = database_url(parse_url(second_owner_url), dbname=django_db_setup)
        report = io.StringIO()
        call_command("move_module", "orders", "--to", target, stdout=report)
        assert "ORDERS_DATABASE_URL=" in report.getvalue()

        with orders_configured_at(parse_url(target)):
            assert Order.objects.using("orders").count() == orders_before  # copied
            with worker_process(django_db_setup, tmp_path, queues="orders", beat=False):
                wait_until(lambda: set(states()) <= FINAL, timeout=120)
                wait_until(lambda: not any(outbox_pending(module=m) for m in outbox_models()))

            assert states() == Counter({"CONFIRMED": 40, "REJECTED": BOOKINGS - 40})
            # Nothing lost or doubled: one order per booking that got seats, each
            # placed, decided and announced once.
            held = {e.aggregate_id for e in store_find(message_type="ticketing.SeatsHeld")}
            origins = Counter(
                str(origin) for origin in Order.objects.using("orders").values_list(
                    "origin", flat=True)
            )  # fmt: skip
            assert set(origins) == held
            assert set(origins.values()) == {1}
            placed = Counter(e.aggregate_id for e in store_find(message_type="orders.OrderPlaced"))
            assert set(placed.values()) == {1}
            confirmed = Counter(
                e.aggregate_id for e in store_find(message_type="bookings.BookingConfirmed")
            )
            assert len(confirmed) == 40
            assert set(confirmed.values()) == {1}
            call_command("audit_consistency", stdout=io.StringIO())

            # The role on the new server sees its own schema only.
            login = conninfo(settings.DATABASES["orders"], dbname=django_db_setup)
            with psycopg.connect(login, autocommit=True) as conn:
                schemas = {
                    name
                    for (name,) in conn.execute(
                        "SELECT nspname FROM pg_namespace WHERE has_schema_privilege(oid, 'USAGE')"
                    )
                }
            assert schemas - {"pg_catalog", "information_schema", "pg_toast"} == {"orders"}
