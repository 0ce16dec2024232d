"""`move_module`'s safety checks and its restore script filter."""

from __future__ import annotations

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from project.management.commands.move_module import _portable
from project.provisioning import conninfo


def test_foreign_column_options_are_left_out_and_standard_ones_kept() -> None:
    script = "\n".join(
        [
            "CREATE TABLE orders.t (id integer);",
            "ALTER TABLE ONLY orders.t ALTER COLUMN id SET (pg_attver=674155760);",
            "ALTER TABLE ONLY orders.t ALTER COLUMN id SET (n_distinct=5, pg_attver=1);",
            "ALTER TABLE ONLY orders.t ALTER COLUMN id SET (pg_attver=1, n_distinct_inherited=2);",
        ]
    )
    assert _portable(script).splitlines() == [
        "CREATE TABLE orders.t (id integer);",
        "ALTER TABLE ONLY orders.t ALTER COLUMN id SET (n_distinct=5);",
        "ALTER TABLE ONLY orders.t ALTER COLUMN id SET (n_distinct_inherited=2);",
    ]


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_module_still_connected_on_the_old_server_is_not_moved(django_db_setup: str) -> None:
    login = conninfo(settings.DATABASES["orders"], dbname=django_db_setup)
    with psycopg.connect(login) as still_running:
        assert still_running.execute("SELECT 1").fetchone() == (1,)
        with pytest.raises(CommandError) as refused:
            call_command("move_module", "orders", "--to", "postgresql://postgres@127.0.0.1:1/x")
    assert "still use orders_role" in str(refused.value)
