"""What other modules may ask the customers module. Frozen DTOs, never models."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F

from apps.customers.models import Customer
from apps.customers.selectors import customer_reserved_credit, customers_with_credit
from project.permissions import object_ids_for_user

ALIAS = "customers"


@dataclass(frozen=True)
class CustomerCredit:
    customer_id: uuid.UUID
    credit_limit: Decimal
    available_credit: Decimal


def customer_ids_visible_to(*, user_id: int) -> frozenset[uuid.UUID]:
    """The customers a (non-staff) user owns or was granted."""
    ids = object_ids_for_user(user_id=user_id, model=Customer, codename="view_customer")
    return frozenset(uuid.UUID(pk) for pk in ids)


def customer_credit(*, customer_id: uuid.UUID) -> CustomerCredit | None:
    customer = Customer.objects.using(ALIAS).filter(pk=customer_id).first()
    if customer is None:
        return None
    reserved = customer_reserved_credit(customer_id=customer.id)
    return CustomerCredit(
        customer_id=customer.id,
        credit_limit=customer.credit_limit,
        available_credit=customer.credit_limit - reserved,
    )


def customers_over_limit() -> list[CustomerCredit]:
    """Customers whose open reservations exceed their credit limit (never, if all is well)."""
    customers = customers_with_credit().filter(reserved__gt=F("credit_limit"))
    return [
        CustomerCredit(
            customer_id=c.id,
            credit_limit=c.credit_limit,
            available_credit=c.credit_limit - c.reserved,
        )
        for c in customers
    ]
