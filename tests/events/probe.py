"""A probe: test messages, a subscriber and a projection in the customers module.

Its tables are created by the tests (not migrations) in the `customers` schema,
as `customers_role`, so effects and checkpoints really share one database.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import ClassVar

from django.db import IntegrityError, connections
from django.db.transaction import mark_for_rollback_on_error

from apps.events.public import (
    Command,
    Envelope,
    Event,
    MessagePart,
    projection,
    publish,
    subscribers,
    upcaster,
)

MODULE = "customers"
CRASH_EXIT_CODE = 97
TABLES = """
CREATE TABLE IF NOT EXISTS probe_effect (
    id serial PRIMARY KEY, key text NOT NULL, message_id uuid NOT NULL, position bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS probe_log (
    position bigint PRIMARY KEY, key text NOT NULL, note text NOT NULL
);
CREATE TABLE IF NOT EXISTS probe_projection (
    key text PRIMARY KEY, pings integer NOT NULL, last_note text NOT NULL,
    last_position bigint NOT NULL
);
"""


class ProbeTag(MessagePart):
    name: str
    weight: int = 1


class ProbePinged(Event):
    """v2 renamed v1's `text` to `note` (see the upcaster below)."""

    message_type: ClassVar[str] = "customers.ProbePinged"
    version: ClassVar[int] = 2
    aggregate_field: ClassVar[str] = "key"

    key: str
    note: str = ""
    echo: bool = False
    tags: tuple[ProbeTag, ...] = ()


@upcaster("customers.ProbePinged", from_version=1)
def probe_pinged_v1_to_v2(payload: dict) -> dict:
    payload["note"] = payload.pop("text", "")
    return payload


class ProbeEchoed(Event):
    message_type: ClassVar[str] = "customers.ProbeEchoed"
    aggregate_field: ClassVar[str] = "key"

    key: str


class ProbeMeasured(Event):
    message_type: ClassVar[str] = "customers.ProbeMeasured"
    aggregate_field: ClassVar[str] = "key"

    key: str
    value: float


class ProbeShip(Command):
    message_type: ClassVar[str] = "orders.ProbeShip"
    aggregate_field: ClassVar[str] = "key"

    key: str


# Keys whose handling fails (after writing), until the test removes them.
FAILING: set[str] = set()
# Keys whose handling kills the process, as an out-of-memory kill would.
CRASHING: set[str] = set()
# Keys whose handler hits a database error, catches it and goes on.
SWALLOWING: set[str] = set()
# Keys a worker process recognises (it cannot see the sets above): handling one
# that starts with SLEEPER sleeps SLEEP_SECONDS (after writing), past any time
# limit a test sets; one that starts with STUBBORN also sleeps through the soft
# limit's exception, so that only the hard limit stops it.
SLEEPER = "sleeper-"
STUBBORN = "stubborn-"
SLEEP_SECONDS = 60.0
# Called by the handler with each message, first thing (tests that look on).
WATCHERS: list[Callable[[ProbePinged, Envelope], None]] = []


def effects(key: str | None = None) -> list[tuple[str, str, int]]:
    query = "SELECT key, message_id::text, position FROM probe_effect"
    params: list[str] = []
    if key is not None:
        query += " WHERE key = %s"
        params.append(key)
    with connections[MODULE].cursor() as cursor:
        cursor.execute(query + " ORDER BY id", params)
        return cursor.fetchall()


probe = subscribers.declare("tests.probe", module=MODULE, publishes=True)


@probe.handles(ProbePinged)
def record_ping(message: ProbePinged, envelope: Envelope) -> None:
    for watcher in WATCHERS:
        watcher(message, envelope)
    with connections[MODULE].cursor() as cursor:
        cursor.execute(
            "INSERT INTO probe_effect (key, message_id, position) VALUES (%s, %s, %s)",
            [message.key, envelope.message_id, envelope.position],
        )
    if message.key in CRASHING:
        os._exit(CRASH_EXIT_CODE)
    if message.key.startswith(SLEEPER):
        time.sleep(SLEEP_SECONDS)
    if message.key.startswith(STUBBORN):
        try:
            time.sleep(SLEEP_SECONDS)
        except BaseException:  # noqa: BLE001 - the mistake under test: it will not stop
            time.sleep(SLEEP_SECONDS)
    if message.key in SWALLOWING:
        try:  # as an ORM save() that fails does
            with mark_for_rollback_on_error(using=MODULE), connections[MODULE].cursor() as cursor:
                cursor.execute("INSERT INTO probe_effect (key) VALUES (NULL)")
        except IntegrityError:
            pass  # the mistake under test: the transaction is broken now
    if message.key in FAILING:
        raise RuntimeError(f"probe failure for {message.key}")
    if message.echo:
        publish(ProbeEchoed(key=message.key), source=MODULE)


def reset_probe_projection() -> None:
    with connections[MODULE].cursor() as cursor:
        cursor.execute("DELETE FROM probe_projection")


probe_projection = projection("tests.probe_projection", module=MODULE, reset=reset_probe_projection)


@probe_projection.handles(ProbePinged)
def project_ping(message: ProbePinged, envelope: Envelope) -> None:
    with connections[MODULE].cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO probe_projection (key, pings, last_note, last_position)
            VALUES (%s, 1, %s, %s)
            ON CONFLICT (key) DO UPDATE SET pings = probe_projection.pings + 1,
                last_note = EXCLUDED.last_note, last_position = EXCLUDED.last_position
            """,
            [message.key, message.note, envelope.position],
        )


def projection_rows() -> list[tuple]:
    with connections[MODULE].cursor() as cursor:
        cursor.execute("SELECT * FROM probe_projection ORDER BY key")
        return cursor.fetchall()


def reset_probe_log() -> None:
    with connections[MODULE].cursor() as cursor:
        cursor.execute("DELETE FROM probe_log")


def reset_probe_log_from(position: int) -> None:
    with connections[MODULE].cursor() as cursor:
        cursor.execute("DELETE FROM probe_log WHERE position >= %s", [position])


probe_log = projection(
    "tests.probe_log", module=MODULE, reset=reset_probe_log, reset_from=reset_probe_log_from
)


@probe_log.handles(ProbePinged)
def log_ping(message: ProbePinged, envelope: Envelope) -> None:
    with connections[MODULE].cursor() as cursor:
        cursor.execute(
            "INSERT INTO probe_log (position, key, note) VALUES (%s, %s, %s)",
            [envelope.position, message.key, message.note],
        )


def log_rows() -> list[tuple]:
    with connections[MODULE].cursor() as cursor:
        cursor.execute("SELECT * FROM probe_log ORDER BY position")
        return cursor.fetchall()
