"""Small helpers shared by the event platform's services."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import connections, transaction


def setting(name: str, default: float) -> float:
    return getattr(settings, name, default)


def lock_key(name: str) -> int:
    """A stable advisory-lock key for a name."""
    return zlib.crc32(f"boxoffice.events.{name}".encode())


@contextlib.contextmanager
def transaction_not_flushed(alias: str) -> Iterator[Any]:
    """A transaction (and a cursor) whose commit does not wait for the disk.

    Only for bookkeeping that may be lost with a server crash; other sessions
    see it at once all the same. Inside someone else's transaction it changes
    nothing: SET LOCAL would last to that one's end and take it off the disk too.
    """
    own_transaction = not connections[alias].in_atomic_block
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        if own_transaction:
            cursor.execute("SET LOCAL synchronous_commit = off")
        yield cursor
