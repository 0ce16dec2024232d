from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from django.conf import settings
from django.db import connections

from project.provisioning import conninfo
from tests.events import probe


@pytest.fixture(scope="session", autouse=True)
def probe_tables(django_db_setup: str, django_db_blocker) -> None:
    with django_db_blocker.unblock(), connections[probe.MODULE].cursor() as cursor:
        cursor.execute(probe.TABLES)
    connections[probe.MODULE].close()


@pytest.fixture(autouse=True)
def no_failing_probes() -> Iterator[None]:
    for keys in (probe.FAILING, probe.CRASHING, probe.SWALLOWING):
        keys.clear()
    yield
    for keys in (probe.FAILING, probe.CRASHING, probe.SWALLOWING):
        keys.clear()


@pytest.fixture
def fast_retries(settings) -> None:
    settings.EVENTS_RETRY_BASE_SECONDS = 0
    settings.EVENTS_MAX_ATTEMPTS = 3


def owner_connection(database: str) -> psycopg.Connection:
    return psycopg.connect(conninfo(settings.DATABASE_OWNER, dbname=database), autocommit=True)


@pytest.fixture
def clean_bus(django_db_setup: str) -> None:
    """For tests that commit: start with an empty store and empty probe tables.

    The store refuses TRUNCATE to everyone, by trigger; only the owner, with
    triggers switched off for its session (`session_replication_role`), can
    clear it, and only a test does that.
    """
    with owner_connection(django_db_setup) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("TRUNCATE events.stored_event")
        conn.execute(
            "TRUNCATE customers.probe_effect, customers.probe_projection, customers.probe_log"
        )
