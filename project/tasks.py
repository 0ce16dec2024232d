"""Celery tasks of the platform's shared parts."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from project.api.idempotency import idempotency_keys_purge


@shared_task(name="platform.purge_idempotency_keys", ignore_result=True)
def purge_idempotency_keys(module: str, **_later_options: object) -> int:
    """Beat sends one a module, on the module's queue (its workers own its schema)."""
    retention = timedelta(seconds=settings.IDEMPOTENCY_KEY_RETENTION_SECONDS)
    return idempotency_keys_purge(module=module, older_than=retention)
