"""Readiness checks (`GET /api/health/`): every database alias, the broker, the
outboxes' age, the subscribers' backlogs and the parked messages.

Liveness (`GET /api/health/live/`) checks nothing here: it only proves the
process answers."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connections
from kombu import Connection

BROKER_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    latency_ms: float
    detail: str = ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[0]


def check_database(alias: str) -> CheckResult:
    """Open (or reuse) the alias's connection, as its own role, and run a query."""
    started = time.perf_counter()
    connection = connections[alias]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, current_schemas(false)")
            cursor.fetchone()
    except DatabaseError as exc:
        connection.close()  # never hand a broken connection to the next request
        return CheckResult(f"database:{alias}", False, _elapsed_ms(started), _first_line(exc))
    return CheckResult(f"database:{alias}", True, _elapsed_ms(started))


def check_broker() -> CheckResult:
    """Connect to the configured broker with a short timeout (a fresh connection)."""
    started = time.perf_counter()
    url = settings.CELERY_BROKER_URL
    options = dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    try:
        if url.startswith("filesystem://"):
            folder = Path(str(options["data_folder_in"]))
            if not folder.is_dir():
                raise OSError(f"broker folder {folder} is missing")
        else:
            options.update(
                socket_connect_timeout=BROKER_TIMEOUT_SECONDS, socket_timeout=BROKER_TIMEOUT_SECONDS
            )
        with Connection(
            url, connect_timeout=BROKER_TIMEOUT_SECONDS, transport_options=options
        ) as broker:
            broker.ensure_connection(
                max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS
            )
            broker.default_channel  # noqa: B018 - opening a channel proves the broker answers
    except Exception as exc:  # noqa: BLE001 - any failure means "broker unavailable"
        return CheckResult("broker", False, _elapsed_ms(started), _first_line(exc))
    return CheckResult("broker", True, _elapsed_ms(started))


def check_outboxes() -> CheckResult:
    """Failing when a module's oldest unrelayed message is older than the limit:
    the relay is not running, or cannot keep up."""
    from apps.events.public.queries import outbox_backlogs

    started = time.perf_counter()
    limit = float(getattr(settings, "EVENTS_OUTBOX_MAX_AGE_SECONDS", 300))
    try:
        backlogs = outbox_backlogs()
    except DatabaseError as exc:
        return CheckResult("outbox", False, _elapsed_ms(started), _first_line(exc))
    pending = sum(b.pending for b in backlogs)
    stale = [b.module for b in backlogs if (b.oldest_age_seconds or 0) > limit]
    detail = f"{pending} pending"
    if stale:
        detail += f"; older than {limit:.0f}s in {', '.join(stale)}"
    return CheckResult("outbox", not stale, _elapsed_ms(started), detail)


def check_subscribers() -> list[CheckResult]:
    """Two checks from one look at every subscriber. `subscribers` fails when one
    has more than EVENTS_HEALTH_MAX_WAITING messages waiting past its checkpoint
    (its workers are not running, or cannot keep up), naming it. `parked` fails
    when more than EVENTS_HEALTH_MAX_PARKED messages are parked in all: a few
    are a data problem for an operator (retry_parked), not a reason to take
    every web node out of the load balancer, so they are only reported."""
    from apps.events.public.queries import subscriber_backlogs

    started = time.perf_counter()
    max_waiting = int(getattr(settings, "EVENTS_HEALTH_MAX_WAITING", 10_000))
    max_parked = int(getattr(settings, "EVENTS_HEALTH_MAX_PARKED", 100))
    try:
        # Counting one past the limit is enough to know a subscriber is over it:
        # the probe does not count a far-behind subscriber's whole backlog.
        backlogs = subscriber_backlogs(count_up_to=max_waiting + 1)
    except DatabaseError as exc:
        elapsed, error = _elapsed_ms(started), _first_line(exc)
        return [
            CheckResult("subscribers", False, elapsed, error),
            CheckResult("parked", False, elapsed, error),
        ]
    elapsed = _elapsed_ms(started)

    waiting = sum(b.waiting for b in backlogs)
    capped = any(b.waiting > max_waiting for b in backlogs)
    lagging = [b.subscriber for b in backlogs if b.waiting > max_waiting]
    detail = f"{'at least ' if capped else ''}{waiting} waiting"
    if lagging:
        detail += f"; more than {max_waiting} waiting for {', '.join(lagging)}"
    subscribers = CheckResult("subscribers", not lagging, elapsed, detail)

    parked = sum(b.parked for b in backlogs)
    detail = f"{parked} parked"
    if parked:
        by_subscriber = [f"{b.subscriber} ({b.parked})" for b in backlogs if b.parked]
        detail += f": {', '.join(by_subscriber)}"
    if parked > max_parked:
        detail += f"; more than {max_parked}"
    return [subscribers, CheckResult("parked", parked <= max_parked, elapsed, detail)]


def run_checks() -> list[CheckResult]:
    databases = [check_database(alias) for alias in settings.DATABASES]
    checks = [*databases, check_broker()]
    if all(result.ok for result in databases):
        checks.append(check_outboxes())
        checks.extend(check_subscribers())
    return checks


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
