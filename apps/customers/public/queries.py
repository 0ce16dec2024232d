"""What other modules may ask the customers module. Frozen DTOs, never models."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F

from apps.customers import selectors
from apps.customers.models import Customer
from project.permissions import object_ids_for_user

ALIAS = "customers"


@dataclass(frozen=True)
class CustomerCredit:
    customer_id: uuid.UUID
    credit_limit: Decimal
    available_credit: Decimal


def customer_ids_visible_to(*, user_id: int | None) -> frozenset[uuid.UUID]:
    """The customers a (non-staff) user owns or was granted; none for no user."""
    if user_id is None:
        return frozenset()
    ids = object_ids_for_user(user_id=user_id, model=Customer, codename="view_customer")
    return frozenset(uuid.UUID(pk) for pk in ids)


def customer_credit(*, customer_id: uuid.UUID) -> CustomerCredit | None:
    customer = Customer.objects.using(ALIAS).filter(pk=customer_id).first()
    if customer is None:
        return None
    return CustomerCredit(
        customer_id=customer.id,
        credit_limit=customer.credit_limit,
        available_credit=customer.available_credit,
    )


def customers_over_limit() -> list[CustomerCredit]:
    """Customers whose open reservations, as the ledger has them, exceed their
    credit limit (never, if all is well)."""
    customers = selectors.customers_with_ledger_reserved().filter(
        ledger_reserved__gt=F("credit_limit")
    )
    return [
        CustomerCredit(
            customer_id=c.id,
            credit_limit=c.credit_limit,
            available_credit=c.credit_limit - c.ledger_reserved,
        )
        for c in customers
    ]


@dataclass(frozen=True)
class ReservedCreditMismatch:
    customer_id: uuid.UUID
    reserved_credit: Decimal  # the running total credit checks read
    ledger_reserved: Decimal  # the sum of the OPEN reservations


def customers_reserved_out_of_step() -> list[ReservedCreditMismatch]:
    """Customers whose running total of reserved credit differs from their ledger
    (never, if all is well: both change in one transaction; else
    `manage.py reconcile_reserved_credit` sets the totals from the ledgers)."""
    customers = selectors.customers_with_total_off_ledger()
    return [
        ReservedCreditMismatch(
            customer_id=c.id, reserved_credit=c.reserved_credit, ledger_reserved=c.ledger_reserved
        )
        for c in customers
    ]
