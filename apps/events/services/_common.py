"""Small helpers shared by the event platform's services."""

from __future__ import annotations

import zlib

from django.conf import settings


def setting(name: str, default: float) -> float:
    return getattr(settings, name, default)


def lock_key(name: str) -> int:
    """A stable advisory-lock key for a name."""
    return zlib.crc32(f"boxoffice.events.{name}".encode())
