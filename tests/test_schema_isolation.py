"""Guarantee 5 (isolation): a module's role can touch only its own schema.

Each role connects for real, as itself, and tries every kind of statement on
every other territory's schema. PostgreSQL must answer `permission denied`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import psycopg
import pytest
from django.conf import settings
from psycopg import sql

from project.provisioning import conninfo
from project.topology import MODULES, PLATFORM, TERRITORIES, Territory, territory_for_alias

PROBE = "isolation_probe"
pytestmark = pytest.mark.django_db(databases="__all__")


def connect_as(territory: Territory) -> psycopg.Connection:
    config = settings.DATABASES[territory.alias]
    conn = psycopg.connect(conninfo(config, dbname=config["NAME"]))
    conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(territory.schema)))
    conn.commit()
    return conn


@pytest.fixture(scope="module")
def role_connections(
    django_db_setup: str, django_db_blocker
) -> Iterator[dict[str, psycopg.Connection]]:
    """One connection per role; each creates a probe table in its own schema."""
    with django_db_blocker.unblock():
        conns = {t.alias: connect_as(t) for t in TERRITORIES}
        for conn in conns.values():
            conn.execute(f"CREATE TABLE {PROBE} (id integer PRIMARY KEY, note text)")
            conn.execute(f"INSERT INTO {PROBE} VALUES (1, 'mine')")
            conn.commit()
        yield conns
        for conn in conns.values():
            conn.rollback()
            conn.execute(f"DROP TABLE IF EXISTS {PROBE}")
            conn.commit()
            conn.close()


def statements(schema: str) -> dict[str, sql.Composed]:
    table = sql.Identifier(schema, PROBE)
    return {
        "SELECT": sql.SQL("SELECT note FROM {}").format(table),
        "INSERT": sql.SQL("INSERT INTO {} VALUES (2, 'intruder')").format(table),
        "UPDATE": sql.SQL("UPDATE {} SET note = 'intruder'").format(table),
        "DELETE": sql.SQL("DELETE FROM {}").format(table),
        "CREATE": sql.SQL("CREATE TABLE {} (id integer)").format(
            sql.Identifier(schema, "intruder")
        ),
    }


CROSSINGS = [
    (source, target, verb)
    for source, target in itertools.permutations([t.alias for t in TERRITORIES], 2)
    if source in MODULES  # every module role, against every other module and `platform`
    for verb in ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE")
]


@pytest.mark.parametrize(("source", "target", "verb"), CROSSINGS)
def test_a_module_role_is_denied_on_every_other_schema(
    role_connections: dict[str, psycopg.Connection], source: str, target: str, verb: str
) -> None:
    conn = role_connections[source]
    statement = statements(territory_for_alias(target).schema)[verb]
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            conn.execute(statement)
    finally:
        conn.rollback()


@pytest.mark.parametrize("alias", [t.alias for t in TERRITORIES])
def test_a_role_may_do_everything_in_its_own_schema(
    role_connections: dict[str, psycopg.Connection], alias: str
) -> None:
    conn = role_connections[alias]
    for verb, statement in statements(territory_for_alias(alias).schema).items():
        conn.execute(statement)
        if verb == "SELECT":
            assert conn.execute(statement).fetchall() == [("mine",)]
    conn.rollback()


@pytest.mark.parametrize("alias", MODULES)
def test_platform_role_is_denied_on_module_schemas(
    role_connections: dict[str, psycopg.Connection], alias: str
) -> None:
    conn = role_connections[PLATFORM.alias]
    for statement in statements(alias).values():
        try:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        finally:
            conn.rollback()


@pytest.mark.parametrize("alias", [t.alias for t in TERRITORIES])
def test_a_role_cannot_escape_through_public_new_schemas_or_other_roles(
    role_connections: dict[str, psycopg.Connection], alias: str
) -> None:
    conn = role_connections[alias]
    others = [t.role for t in TERRITORIES if t.alias != alias]
    attempts = [
        sql.SQL("CREATE TABLE public.intruder (id integer)"),
        sql.SQL("CREATE SCHEMA intruder"),
        sql.SQL("SET ROLE {}").format(sql.Identifier(others[0])),
        sql.SQL("CREATE ROLE intruder"),
    ]
    for statement in attempts:
        try:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        finally:
            conn.rollback()


@pytest.mark.parametrize("territory", TERRITORIES, ids=lambda t: t.alias)
def test_each_alias_logs_in_as_its_own_role_in_its_own_schema(territory: Territory) -> None:
    from django.db import connections

    with connections[territory.alias].cursor() as cursor:
        cursor.execute("SELECT current_user, current_schema()")
        assert cursor.fetchone() == (territory.role, territory.schema)
