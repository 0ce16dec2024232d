"""Queries of the orders module."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.customers.public.queries import customer_ids_visible_to
from apps.orders.models import Order

ALIAS = "orders"


def orders_visible_to(*, user: object) -> QuerySet[Order]:
    """Staff see every order; a user sees the orders of the customers they own."""
    queryset = Order.objects.using(ALIAS).prefetch_related("lines")
    if getattr(user, "is_staff", False):
        return queryset
    customer_ids = customer_ids_visible_to(user_id=user.pk)  # type: ignore[attr-defined]
    return queryset.filter(customer_id__any=sorted(customer_ids))  # one parameter, however many
