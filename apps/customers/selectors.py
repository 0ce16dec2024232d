"""Queries of the customers module."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal

from django.db.models import DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from apps.customers.models import CreditReservation, Customer, CustomerOrder
from project.permissions import objects_for_user

ALIAS = "customers"
_OPEN = Q(reservations__state=CreditReservation.State.OPEN)


def customer_reserved_credit(*, customer_id: uuid.UUID) -> Decimal:
    """The sum of the customer's open reservations."""
    return customers_reserved_credit(customer_ids=[customer_id]).get(customer_id, Decimal("0.00"))


def customers_reserved_credit(*, customer_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
    """The sums of open reservations of several customers (absent: nothing reserved)."""
    rows = (
        CreditReservation.objects.using(ALIAS)
        .filter(customer_id__any=customer_ids, state=CreditReservation.State.OPEN)
        .values("customer_id")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    return {row["customer_id"]: row["total"] for row in rows}


def customers_with_credit() -> QuerySet[Customer]:
    """Customers annotated with `reserved` (open reservations)."""
    zero = Value(Decimal("0.00"), output_field=DecimalField(max_digits=12, decimal_places=2))
    return Customer.objects.using(ALIAS).annotate(
        reserved=Coalesce(Sum("reservations__amount", filter=_OPEN), zero)
    )


def customers_visible_to(*, user: object) -> QuerySet[Customer]:
    """Staff see every customer; a user sees those granted to them."""
    queryset = customers_with_credit()
    if getattr(user, "is_staff", False):
        return queryset
    return objects_for_user(user=user, codename="view_customer", queryset=queryset)


def customer_orders(*, customer_id: uuid.UUID) -> QuerySet[CustomerOrder]:
    """The customer's orders, most recent first, from the module's own read model."""
    return CustomerOrder.objects.using(ALIAS).filter(customer_id=customer_id)
