"""Celery tasks of the bookings module: the hold timer, driven by beat."""

from __future__ import annotations

from celery import shared_task

from apps.bookings.services import bookings_expire


@shared_task(name="bookings.expire_holds", ignore_result=True)
def expire_holds() -> int:
    """Expire unpaid holds whose time is up (every BOOKING_EXPIRY_SWEEP_SECONDS).

    The deadline is a column, so a restart of workers or beat loses nothing:
    the next run finds whatever fell due meanwhile.
    """
    return bookings_expire()
