"""`provision_db` is idempotent and creates exactly the roles and schemas it promises."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from django.conf import settings
from psycopg import sql

from project.provisioning import conninfo, drop_database, provision, territory_logins
from project.topology import TERRITORIES


@pytest.fixture
def scratch_database(django_db_setup: str, django_db_blocker):
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    with django_db_blocker.unblock():
        yield name
        drop_database(owner=settings.DATABASE_OWNER, database=name)


def owner_query(database: str, query: str) -> list[tuple]:
    with psycopg.connect(conninfo(settings.DATABASE_OWNER, dbname=database)) as conn:
        return conn.execute(query).fetchall()


def test_provisioning_a_new_database_twice_gives_the_same_result(scratch_database: str) -> None:
    logins = territory_logins(settings.DATABASES)
    first: list[str] = []
    provision(
        owner=settings.DATABASE_OWNER, database=scratch_database, logins=logins, log=first.append
    )
    again: list[str] = []
    provision(
        owner=settings.DATABASE_OWNER, database=scratch_database, logins=logins, log=again.append
    )

    assert f"created database {scratch_database}" in first
    assert again == []  # nothing left to create
    schemas = owner_query(
        scratch_database,
        "SELECT nspname, pg_get_userbyid(nspowner), nspacl::text FROM pg_namespace"
        " WHERE nspname NOT LIKE 'pg_%' AND nspname NOT IN ('information_schema', 'public')"
        " ORDER BY 1",
    )
    expected = sorted((t.schema, t.role) for t in TERRITORIES)
    assert [(name, owner) for name, owner, _ in schemas] == expected
    for name, owner, acl in schemas:
        # Only the owning role holds rights on its schema: no PUBLIC, no other role.
        assert acl == f"{{{owner}=UC/{owner}}}", (name, acl)


def test_roles_can_log_in_and_nothing_more() -> None:
    roles = [t.role for t in TERRITORIES]
    rows = owner_query(
        "postgres",
        "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit"
        f" FROM pg_roles WHERE rolname IN ({', '.join(repr(r) for r in roles)})",
    )
    assert sorted(rows) == sorted((r, True, False, False, False, False) for r in roles)


def test_public_may_not_connect_to_the_database(django_db_setup: str, django_db_blocker) -> None:
    with django_db_blocker.unblock():
        acl = owner_query(
            django_db_setup,
            f"SELECT datacl::text FROM pg_database WHERE datname = '{django_db_setup}'",
        )[0][0]
    grants = acl.strip("{}").split(",")
    assert not any(g.startswith("=") for g in grants), acl  # "=..." is PUBLIC
    for territory in TERRITORIES:
        assert any(g.startswith(f"{territory.role}=c/") for g in grants), (territory.role, acl)


LIMITS = ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")


def role_limits(alias: str, database: str) -> tuple[str, ...]:
    """What a new session of `alias`'s role in `database` runs with."""
    with psycopg.connect(conninfo(settings.DATABASES[alias], dbname=database)) as conn:
        return tuple(conn.execute(f"SHOW {name}").fetchone()[0] for name in LIMITS)


def as_shown(limits: dict[str, str]) -> tuple[str, ...]:
    """`limits` as the server shows them (60s is `1min`); empty: its default."""
    with psycopg.connect(conninfo(settings.DATABASE_OWNER, dbname="postgres")) as conn:
        shown = []
        for name in LIMITS:
            if limits[name]:
                conn.execute(
                    sql.SQL("SET {} = {}").format(sql.Identifier(name), sql.Literal(limits[name]))
                )
            else:
                conn.execute(sql.SQL("SET {} TO DEFAULT").format(sql.Identifier(name)))
            shown.append(conn.execute(f"SHOW {name}").fetchone()[0])
        return tuple(shown)


@pytest.fixture
def configured() -> tuple[str, ...]:
    return as_shown(settings.DATABASE_SESSION_LIMITS)


def test_every_role_runs_with_the_configured_session_limits(
    django_db_setup: str, configured: tuple[str, ...]
) -> None:
    for territory in TERRITORIES:
        assert role_limits(territory.alias, django_db_setup) == configured


def test_provisioning_again_with_other_limits_updates_them_in_that_database_only(
    scratch_database: str, django_db_setup: str, configured: tuple[str, ...]
) -> None:
    logins = territory_logins(settings.DATABASES)

    def provision_with(**limits: str) -> None:
        provision(
            owner=settings.DATABASE_OWNER,
            database=scratch_database,
            logins=logins,
            log=lambda _: None,
            limits=limits,
        )

    first = {
        "statement_timeout": "30s",
        "lock_timeout": "10s",
        "idle_in_transaction_session_timeout": "60s",
    }
    provision_with(**first)
    provision_with(**first)  # twice: the same
    assert role_limits("customers", scratch_database) == ("30s", "10s", "1min")

    # Another value, and an empty one (the server's default): updated.
    provision_with(
        statement_timeout="45s", lock_timeout="", idle_in_transaction_session_timeout="2min"
    )
    for territory in TERRITORIES:
        assert role_limits(territory.alias, scratch_database) == ("45s", "0", "2min")
    # Roles are cluster-wide, their limits per database: the test database's stay.
    assert role_limits("customers", django_db_setup) == configured


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_migrations_and_rebuilds_lift_the_limits_for_their_own_sessions_only(
    configured: tuple[str, ...],
) -> None:
    from django.db import connections

    from project.provisioning import sessions_without_limits

    def limits(alias: str) -> tuple[str, ...]:
        shown = []
        with connections[alias].cursor() as cursor:
            for name in LIMITS:
                cursor.execute(f"SHOW {name}")
                shown.append(cursor.fetchone()[0])
        return tuple(shown)

    assert limits("orders") == configured
    with sessions_without_limits(["orders"]):
        assert limits("orders") == ("0", "0", "0")
        assert limits("customers") == configured
    assert limits("orders") == configured
