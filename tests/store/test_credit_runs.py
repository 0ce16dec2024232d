"""A run of credit requests decided in one call equals deciding them one by one."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.db import transaction

from apps.customers import services
from apps.customers.models import CreditReservation
from apps.customers.selectors import customer_reserved_credit
from apps.events.public.records import outbox_models

ALL = "__all__"


def replies() -> list[tuple[str, str]]:
    outbox = outbox_models()["customers"].objects.using("customers").order_by("id")
    return [
        (row.type, row.payload["order_id"])
        for row in outbox
        if row.type != "customers.CustomerRegistered"
    ]


@pytest.mark.django_db(databases=ALL)
def test_one_run_over_two_customers_crossing_a_limit_answers_each_order_in_turn(
    make_customer,
) -> None:
    tight, roomy = make_customer(limit="10.00"), make_customer(limit="100.00")
    ghost = uuid.uuid4()
    void = uuid.uuid4()
    services.credit_release(order_id=void, customer_id=tight.id)  # cancelled first: VOID
    asks = [
        (uuid.uuid4(), tight.id, "4.00"),
        (uuid.uuid4(), roomy.id, "60.00"),
        (uuid.uuid4(), tight.id, "4.00"),
        (uuid.uuid4(), tight.id, "4.00"),  # 12.00 > 10.00: refused
        (uuid.uuid4(), ghost, "1.00"),  # unknown customer
        (void, tight.id, "1.00"),  # VOID: nothing, no reply
        (uuid.uuid4(), tight.id, "2.00"),  # 10.00 exactly: fits
        (uuid.uuid4(), roomy.id, "50.00"),  # 110.00 > 100.00: refused
    ]
    with transaction.atomic(using="customers"):
        services.credit_reserve_many(
            requests=[
                services.CreditRequest(order_id=o, customer_id=c, amount=Decimal(a))
                for o, c, a in asks
            ]
        )

    expected = [
        "customers.CreditReserved",
        "customers.CreditReserved",
        "customers.CreditReserved",
        "customers.CreditLimitExceeded",
        "customers.CustomerValidationFailed",
        "customers.CreditReserved",
        "customers.CreditLimitExceeded",
    ]
    answered = [o for o, _, _ in asks if o != void]
    assert replies()[-7:] == [(t, str(o)) for t, o in zip(expected, answered, strict=True)]
    assert customer_reserved_credit(customer_id=tight.id) == Decimal("10.00")
    assert customer_reserved_credit(customer_id=roomy.id) == Decimal("60.00")
    assert CreditReservation.objects.using("customers").get(pk=void).state == "VOID"


@pytest.mark.django_db(databases=ALL)
def test_the_running_total_moves_with_the_ledger(make_customer) -> None:
    """Reserving, refusing, a redelivered request, releasing twice and a cancel
    that came first: each customer's `reserved_credit` always equals its OPEN
    reservations, which the audit compares."""
    from apps.customers.public.queries import customers_reserved_out_of_step

    customer = make_customer(limit="20.00")
    first, second, refused, cancelled_first = (uuid.uuid4() for _ in range(4))

    def reserve(order_id: uuid.UUID, amount: str) -> None:
        services.credit_reserve(order_id=order_id, customer_id=customer.id, amount=Decimal(amount))

    reserve(first, "8.00")
    reserve(second, "7.00")
    reserve(second, "7.00")  # redelivered: no second reservation
    reserve(refused, "6.00")  # 21.00 > 20.00
    assert customer_reserved_credit(customer_id=customer.id) == Decimal("15.00")

    services.credit_release(order_id=first, customer_id=customer.id)
    services.credit_release(order_id=first, customer_id=customer.id)  # released already
    services.credit_release(order_id=cancelled_first, customer_id=customer.id)  # VOID
    reserve(cancelled_first, "3.00")  # VOID: reserves nothing
    assert customer_reserved_credit(customer_id=customer.id) == Decimal("7.00")
    assert customers_reserved_out_of_step() == []


@pytest.mark.django_db(databases=ALL)
def test_the_database_refuses_a_total_beyond_the_limit(make_customer) -> None:
    """Whatever a credit check did wrong, the row cannot say more is reserved
    than the limit allows, nor less than nothing."""
    from django.db import IntegrityError

    from apps.customers.models import Customer

    customer = make_customer(limit="10.00")
    customers = Customer.objects.using("customers").filter(pk=customer.id)
    for reserved in ("10.01", "-0.01"):
        with pytest.raises(IntegrityError), transaction.atomic(using="customers"):
            customers.update(reserved_credit=Decimal(reserved))
    assert customers.update(reserved_credit=Decimal("10.00")) == 1


@pytest.mark.django_db(databases=ALL)
def test_the_migration_fills_each_total_from_the_ledger(make_customer) -> None:
    """Migration 0003 adds the running total to customers whose reservations
    were written before it: OPEN ones count, RELEASED and VOID ones do not."""
    import importlib

    from django.db import connections

    from apps.customers.models import Customer

    migration = importlib.import_module("apps.customers.migrations.0003_customer_reserved_credit")
    held, idle = make_customer(limit="50.00"), make_customer(limit="50.00")
    for amount, state in (("5.00", "OPEN"), ("7.50", "OPEN"), ("9.00", "RELEASED"), ("0", "VOID")):
        CreditReservation.objects.using("customers").create(
            order_id=uuid.uuid4(), customer=held, amount=Decimal(amount), state=state
        )
    with connections["customers"].cursor() as cursor:
        cursor.execute(migration.FILL_FROM_LEDGER)
    totals = dict(
        Customer.objects.using("customers")
        .filter(pk__in=[held.id, idle.id])
        .values_list("pk", "reserved_credit")
    )
    assert totals == {held.id: Decimal("12.50"), idle.id: Decimal("0.00")}


@pytest.mark.django_db(databases=ALL)
def test_a_release_naming_another_customer_changes_nothing(make_customer) -> None:
    """The reservation's owner is the one whose total moves; a message naming
    someone else (a bug, a forgery) releases nothing and moves no total."""
    from apps.customers.public.queries import customers_reserved_out_of_step

    owner, other = make_customer(limit="10.00"), make_customer(limit="10.00")
    order_id = uuid.uuid4()
    services.credit_reserve(order_id=order_id, customer_id=owner.id, amount=Decimal("4.00"))
    services.credit_release(order_id=order_id, customer_id=other.id)
    assert CreditReservation.objects.using("customers").get(pk=order_id).state == "OPEN"
    assert customer_reserved_credit(customer_id=owner.id) == Decimal("4.00")
    assert customer_reserved_credit(customer_id=other.id) == Decimal("0.00")
    assert customers_reserved_out_of_step() == []


@pytest.mark.django_db(databases=ALL)
def test_reconcile_sets_a_drifted_total_from_the_ledger(make_customer) -> None:
    """A reservation written past the services leaves the total behind; the
    audit names the customer, and `reconcile_reserved_credit` sets it right."""
    import io

    from django.core.management import CommandError, call_command

    from apps.customers.public.queries import customers_reserved_out_of_step

    drifted, fine = make_customer(limit="10.00"), make_customer(limit="10.00")
    services.credit_reserve(order_id=uuid.uuid4(), customer_id=fine.id, amount=Decimal("2.00"))
    CreditReservation.objects.using("customers").create(
        order_id=uuid.uuid4(), customer=drifted, amount=Decimal("3.00")
    )
    assert [m.customer_id for m in customers_reserved_out_of_step()] == [drifted.id]

    out = io.StringIO()
    call_command("reconcile_reserved_credit", stdout=out)
    assert f"customer {drifted.id}: reserved credit set from its ledger" in out.getvalue()
    assert "1 customer(s) reconciled" in out.getvalue()
    assert customer_reserved_credit(customer_id=drifted.id) == Decimal("3.00")
    assert customer_reserved_credit(customer_id=fine.id) == Decimal("2.00")
    assert customers_reserved_out_of_step() == []

    # A ledger past its limit cannot become a total (the database refuses it):
    # left as it was, named, and the command fails.
    CreditReservation.objects.using("customers").create(
        order_id=uuid.uuid4(), customer=drifted, amount=Decimal("8.00")
    )
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 customer"):
        call_command("reconcile_reserved_credit", stdout=out)
    assert f"customer {drifted.id}: its open reservations exceed its limit" in out.getvalue()
    assert customer_reserved_credit(customer_id=drifted.id) == Decimal("3.00")
