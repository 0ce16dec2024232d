"""Wherever a module's database lives (on the shared server, or moved out to its own),
its role sees nothing but its own schema."""

from __future__ import annotations

import os

import psycopg
import pytest
from django.conf import settings

from project.provisioning import conninfo
from project.topology import MODULES, territory_for_alias

SYSTEM_SCHEMAS = {"pg_catalog", "information_schema", "pg_toast"}


@pytest.mark.e2e
@pytest.mark.parametrize("module", MODULES)
def test_a_module_role_can_use_only_its_own_schema_on_its_server(
    module: str, django_db_setup: str
) -> None:
    config = settings.DATABASES[module]
    with psycopg.connect(conninfo(config, dbname=django_db_setup), autocommit=True) as conn:
        usable = {
            name
            for (name,) in conn.execute(
                "SELECT nspname FROM pg_namespace"
                " WHERE has_schema_privilege(oid, 'USAGE') OR has_schema_privilege(oid, 'CREATE')"
            )
        }
        assert usable - SYSTEM_SCHEMAS == {module}
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE SCHEMA intruder")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE public.intruder (id int)")


@pytest.mark.e2e
def test_each_module_lives_on_the_server_its_alias_names(django_db_setup: str) -> None:
    """In the split pass (tests/split_run.py) `orders` is moved out; in the first, nothing."""
    from apps.events.public.records import checkpoint_models
    from tests.workers import moved_modules

    expected = [m for m in os.environ.get("BOXOFFICE_EXPECT_MOVED", "").split(",") if m]
    assert moved_modules() == expected
    owner = settings.DATABASE_OWNER
    with psycopg.connect(conninfo(owner, dbname=django_db_setup), autocommit=True) as conn:
        for module, model in checkpoint_models().items():
            table = f"{module}.{model._meta.db_table}"
            on_main = conn.execute("SELECT to_regclass(%s)", [table]).fetchone()[0] is not None
            assert on_main == (module not in expected), table


@pytest.mark.e2e
def test_a_second_server_holds_only_what_it_hosts(django_db_setup: str) -> None:
    """Provisioning gives a server the schemas (and roles) of the aliases it hosts, no more."""
    from project.provisioning import aliases_by_server, provision_servers

    provision_servers(  # as `manage.py provision_db` does, again: idempotent
        owners=settings.DATABASE_OWNERS,
        databases=settings.DATABASES,
        database=django_db_setup,
        log=lambda _: None,
    )
    for aliases in aliases_by_server(settings.DATABASE_OWNERS).values():
        owner = settings.DATABASE_OWNERS[aliases[0]]
        with psycopg.connect(conninfo(owner, dbname=django_db_setup), autocommit=True) as conn:
            schemas = {
                name
                for (name,) in conn.execute("SELECT nspname FROM pg_namespace")
                if not name.startswith("pg_") and name not in ("information_schema", "public")
            }
        hosted = {territory_for_alias(alias).schema for alias in aliases}
        assert schemas == hosted
