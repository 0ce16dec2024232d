"""Queries of the bookings module."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.bookings.models import Booking
from apps.customers.public.queries import customer_ids_visible_to

ALIAS = "bookings"


def bookings_visible_to(*, user: object) -> QuerySet[Booking]:
    """Staff see every booking; a user sees the bookings of the customers they own."""
    queryset = Booking.objects.using(ALIAS)
    if getattr(user, "is_staff", False):
        return queryset
    customer_ids = customer_ids_visible_to(user_id=user.pk)  # type: ignore[attr-defined]
    return queryset.filter(customer_id__any=sorted(customer_ids))  # one parameter, however many
