"""`Idempotency-Key` for creating POSTs: the same key and body answer the same again.

Each module keeps its keys in its own schema (a subclass of `IdempotencyRecord`),
so that the key, the change and the messages it publishes commit together:

    with idempotent(request, model=IdempotencyKey, using="orders") as call:
        if call.replayed:
            return call.replayed
        ...  # create, publish
        return call.remember(Response(body, status=202))

A second request with the key waits for the first to commit, then gets its
response. The same key with another body is 422. A key is kept for
IDEMPOTENCY_KEY_RETENTION_SECONDS (a day), then purged by each module's
workers (`idempotency_keys_purge`): a retry later than that is a new request.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import models, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
PURGE_BATCH_SIZE = 5000


class IdempotencyKeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was used with another request body."
    default_code = "idempotency_key_reused"


class IdempotencyKeyBusy(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This Idempotency-Key is being purged; send the request again."
    default_code = "conflict"


class IdempotencyKeyInvalid(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = f"An Idempotency-Key is 1 to {MAX_KEY_LENGTH} printable characters."
    default_code = "idempotency_key_invalid"


class IdempotencyRecord(models.Model):
    key = models.CharField(max_length=MAX_KEY_LENGTH)
    user_id = models.BigIntegerField()
    endpoint = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    # The body as JSON text, keys in the order first sent: jsonb would reorder
    # them, and a replay is to be the same response, byte for byte.
    response_body = models.TextField(null=True)  # noqa: DJ001 - None: no reply yet, as its status
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        verbose_name = "idempotency key"
        constraints = [
            models.UniqueConstraint(
                fields=["user_id", "endpoint", "key"], name="%(app_label)s_idempotency_once"
            )
        ]
        # The purge finds a batch of the oldest without reading the whole table.
        indexes = [models.Index(fields=["created_at"], name="%(app_label)s_idempotency_age")]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.key}"


@dataclass
class IdempotentCall:
    record: IdempotencyRecord | None
    replayed: Response | None = None

    def remember(self, response: Response) -> Response:
        if self.record is not None:
            self.record.response_status = response.status_code
            self.record.response_body = json.dumps(response.data, cls=JSONEncoder)
            self.record.save(update_fields=["response_status", "response_body"])
        return response


def _fingerprint(body: object) -> str:
    canonical = json.dumps(body, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@contextlib.contextmanager
def idempotent(
    request: Request, *, model: type[IdempotencyRecord], using: str, body: object = None
) -> Iterator[IdempotentCall]:
    """With an Idempotency-Key, open the creating request's transaction, in
    which the key is claimed, the change made and the reply kept together.

    Without one, nothing: every service commits its own work, and an outer
    transaction only cost the request two round trips (BEGIN and COMMIT).

    `body` is what identifies the request: its validated input, so that "5.0"
    and "5.00" are the same request (the raw body if not given).
    """
    key = request.headers.get(HEADER)
    if key is None:
        yield IdempotentCall(record=None)
        return
    with transaction.atomic(using=using):
        if not (0 < len(key) <= MAX_KEY_LENGTH) or not key.isprintable():
            raise IdempotencyKeyInvalid
        fields: dict[str, Any] = {
            "user_id": request.user.pk,
            "endpoint": f"{request.method} {request.path}",
            "key": key,
        }
        fingerprint = _fingerprint(request.data if body is None else body)
        manager = model.objects.using(using)
        # The unique index makes a concurrent twin wait here until we commit.
        # Twice: the purge may take a key past its retention between the two.
        for _ in range(2):
            manager.bulk_create([model(**fields, fingerprint=fingerprint)], ignore_conflicts=True)
            record = manager.select_for_update().filter(**fields).first()
            if record is not None:
                break
        else:
            raise IdempotencyKeyBusy
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused
        if record.response_status is not None:
            yield IdempotentCall(
                record=None,
                replayed=Response(json.loads(record.response_body), status=record.response_status),
            )
            return
        yield IdempotentCall(record=record)


def idempotency_records() -> dict[str, type[IdempotencyRecord]]:
    """Each module's idempotency keys model, by the module (its alias)."""
    from django.apps import apps

    from project.topology import alias_for_app_label

    return {
        alias_for_app_label(model._meta.app_label): model
        for model in apps.get_models()
        if issubclass(model, IdempotencyRecord)
    }


def idempotency_keys_purge(
    *, module: str, older_than: timedelta, batch_size: int = PURGE_BATCH_SIZE
) -> int:
    """Delete `module`'s keys created more than `older_than` ago; how many went.

    On the module's own alias: its workers run it (a module that moved to its
    own server takes its keys with it). In batches of `batch_size`, oldest
    first, each its own transaction: an hour of keys at a busy rate is not one
    long delete holding a worker and its locks.
    """
    cutoff = timezone.now() - older_than
    keys = idempotency_records()[module].objects.using(module)
    purged = 0
    while True:
        batch = list(
            keys.filter(created_at__lt=cutoff)
            .order_by("created_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        if batch:
            purged += keys.filter(pk__any=batch).delete()[0]
        if len(batch) < batch_size:
            return purged
