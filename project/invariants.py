"""Invariants: the rules each module declares about what it owns, which
`manage.py audit_consistency` runs.

A module declares them in its `invariants.py`, one small check each, named
after the rule it checks; a check yields one line per breach. A rule that spans
modules belongs to the module that coordinates them (the bookings saga's), and
reads the others only through their `public` queries, so that it holds when
modules live on different database servers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.utils.module_loading import autodiscover_modules


@dataclass(frozen=True)
class AuditWindow:
    """When the audit looks: work unfinished since `stuck_before` is stuck, and
    work changed since `settled_before` may still have messages in flight."""

    stuck_before: datetime
    settled_before: datetime


Check = Callable[[AuditWindow], Iterable[str]]


@dataclass(frozen=True)
class Invariant:
    name: str  # <module>.<rule>
    check: Check


_declared: dict[str, Invariant] = {}


def invariant(check: Check) -> Check:
    """Declare `check` an invariant of the module whose `invariants.py` defines it."""
    module = check.__module__.split(".")[1]  # apps.<module>.invariants
    name = f"{module}.{check.__name__}"
    _declared[name] = Invariant(name=name, check=check)
    return check


def invariants() -> list[Invariant]:
    """Every module's invariants, by name."""
    autodiscover_modules("invariants")
    return sorted(_declared.values(), key=lambda declared: declared.name)
