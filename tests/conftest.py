"""Test set-up: one test database, provisioned like production, migrated per alias.

Django's own test-database creation would migrate only `default` and log in as
a role that may not create databases. Here the owner connection creates and
provisions the database, every alias is pointed at it, and each alias runs its
own migrations as its own role. Under pytest-xdist each worker gets its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.conf import settings

from project.provisioning import drop_fresh_database, use_fresh_database


def worker_database_name() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    suffix = f"_{worker}" if worker else ""
    return f"test_{settings.DATABASE_OWNER['NAME']}{suffix}"


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment: None, django_db_blocker) -> Iterator[str]:
    name = worker_database_name()
    with django_db_blocker.unblock():
        use_fresh_database(name=name, databases=settings.DATABASES, owners=settings.DATABASE_OWNERS)
    yield name
    with django_db_blocker.unblock():
        drop_fresh_database(name=name, owners=settings.DATABASE_OWNERS)


# --- A skipped or xfailed test fails the run: CI must never pass on tests that did not run.
_not_run: list[str] = []


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis for the tests that need one: the broker when it is Redis (CI), else a
    server of the session's own (`make test` on a machine with nothing running)."""
    from tests.servers import embedded_redis

    if settings.CELERY_BROKER_URL.startswith("redis://"):
        yield settings.CELERY_BROKER_URL
        return
    with embedded_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def staff():
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(User.objects.create_user("staff", is_staff=True))
    return client


@pytest.fixture
def make_customer():
    from apps.customers import services as customer_services
    from apps.customers.models import Customer

    def make(*, limit: str = "15.00", owner: object = None, email: str | None = None) -> Customer:
        count = Customer.objects.using("customers").count()
        return customer_services.customer_register(
            name=f"Customer {count}",
            email=email or f"c{count}@example.com",
            region="EU",
            credit_limit=Decimal(limit),
            owner=owner,
        )

    return make


@pytest.fixture
def user_client():
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    def make(username: str) -> tuple[User, APIClient]:
        user = User.objects.create_user(username, password="pw")
        client = APIClient()
        client.force_authenticate(user)
        return user, client

    return make


@pytest.fixture
def clean_store(django_db_setup: str) -> None:
    """For tests that commit: an empty event store (see tests/events/conftest.py)."""
    from tests.events.conftest import owner_connection

    with owner_connection(django_db_setup) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("TRUNCATE events.stored_event")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _not_run.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _not_run and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if _not_run:
        terminalreporter.section("tests that did not run (a failure here)", red=True)
        for nodeid in _not_run:
            terminalreporter.line(nodeid)
