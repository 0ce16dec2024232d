"""Queries of the customers module."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, TypedDict

from django.db.models import DecimalField, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from apps.customers.models import CreditReservation, Customer, CustomerOrder
from project.permissions import objects_for_user

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

ALIAS = "customers"
_OPEN = Q(reservations__state=CreditReservation.State.OPEN)


class LedgerReserved(TypedDict):
    ledger_reserved: Decimal


def customer_reserved_credit(*, customer_id: uuid.UUID) -> Decimal:
    """The customer's reserved credit (its running total; absent: nothing)."""
    reserved = (
        Customer.objects.using(ALIAS).filter(pk=customer_id).values_list("reserved_credit").first()
    )
    return reserved[0] if reserved is not None else Decimal("0.00")


def customers_with_ledger_reserved() -> QuerySet[WithAnnotations[Customer, LedgerReserved]]:
    """Customers annotated with `ledger_reserved`: the sum of their OPEN reservations
    as the ledger has them (for the audit; credit checks read `reserved_credit`)."""
    zero = Value(Decimal("0.00"), output_field=DecimalField(max_digits=12, decimal_places=2))
    return Customer.objects.using(ALIAS).annotate(
        ledger_reserved=Coalesce(Sum("reservations__amount", filter=_OPEN), zero)
    )


def customers_with_total_off_ledger() -> QuerySet[WithAnnotations[Customer, LedgerReserved]]:
    """Customers whose `reserved_credit` differs from their ledger's OPEN sum
    (annotated with `ledger_reserved`)."""
    return customers_with_ledger_reserved().exclude(ledger_reserved=F("reserved_credit"))


def customers_visible_to(*, user: object) -> QuerySet[Customer]:
    """Staff see every customer; a user sees those granted to them."""
    queryset = Customer.objects.using(ALIAS).all()
    if getattr(user, "is_staff", False):
        return queryset
    return objects_for_user(user=user, codename="view_customer", queryset=queryset)


def customer_orders(*, customer_id: uuid.UUID) -> QuerySet[CustomerOrder]:
    """The customer's orders, most recent first, from the module's own read model."""
    return CustomerOrder.objects.using(ALIAS).filter(customer_id=customer_id)
