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
