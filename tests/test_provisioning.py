"""`provision_db` is idempotent and creates exactly the roles and schemas it promises."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from django.conf import settings

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
