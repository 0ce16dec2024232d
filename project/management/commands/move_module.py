"""`manage.py move_module MODULE --to URL`: copy a module's schema to another server.

The data half of moving a module out (docs/splitting-out.md): with the module's
workers (and web processes) stopped, it provisions the target server for the
module alone, copies the module's schema there with pg_dump and pg_restore
(tables, data, sequences, the outbox, checkpoints and parked messages: the
module's whole state, self-contained; restored in one transaction), checks
every table's row count on both sides, and prints the setting to switch.
Nothing else changes: the old schema stays until the operator drops it.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from psycopg import sql

from project.database_settings import env_prefix, parse_url
from project.embedded_postgres import client_binary
from project.provisioning import (
    conninfo,
    database_url,
    provision,
    single_value,
    territory_logins,
)
from project.topology import MODULES, territory_for_alias


class Command(BaseCommand):
    help = (
        "Copy a module's schema to another PostgreSQL server (stop its workers first):"
        " provision there, pg_dump | pg_restore, compare row counts, print the URL to set."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("module", choices=[m for m in MODULES if m != "events"])
        parser.add_argument(
            "--to",
            required=True,
            help="the target server's owner URL, with the database name:"
            " postgresql://postgres@newhost:5432/boxoffice",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        module: str = options["module"]
        territory = territory_for_alias(module)
        source_owner = settings.DATABASE_OWNERS[module]
        source_db = settings.DATABASES[module]["NAME"]
        target_owner = parse_url(options["to"])
        target_db = target_owner["NAME"]
        source = conninfo(source_owner, dbname=source_db)
        target = conninfo(target_owner, dbname=target_db)
        if source == target:
            raise CommandError("the target is where the module is already")

        _refuse_unless_ready(source, territory.role)
        provision(
            owner=target_owner,
            database=target_db,
            logins=territory_logins(settings.DATABASES, aliases=[module]),
            log=lambda line: self.stdout.write(f"  {line}"),
        )
        _require_superuser(target)
        if _tables(target, territory.schema):
            raise CommandError(
                f"schema {territory.schema} on the target has tables already; drop them first"
            )
        with tempfile.TemporaryDirectory() as folder:
            dump, listing = Path(folder) / "module.dump", Path(folder) / "restore.list"
            _run(client_binary("pg_dump"), "--format=custom", f"--schema={territory.schema}",
                 f"--file={dump}", f"--dbname={source}")  # fmt: skip
            entries = _run(client_binary("pg_restore"), "--list", str(dump))
            # The target's schema exists already (provisioned, with its grants): restore
            # everything in it but the schema itself.
            kept = [
                line
                for line in entries.splitlines()
                if f" SCHEMA - {territory.schema} " not in line
            ]
            listing.write_text("\n".join(kept) + "\n")
            script = Path(folder) / "restore.sql"
            _run(client_binary("pg_restore"), f"--use-list={listing}", f"--file={script}",
                 str(dump))  # fmt: skip
            script.write_text(_portable(script.read_text()))
            _run(client_binary("psql"), "--no-psqlrc", "--quiet", "--single-transaction",
                 "--set=ON_ERROR_STOP=1", f"--file={script}", f"--dbname={target}")  # fmt: skip

        before, after = _row_counts(source, territory.schema), _row_counts(target, territory.schema)
        for table, count in sorted(before.items()):
            self.stdout.write(f"  {territory.schema}.{table}: {count} -> {after.get(table)}")
        if before != after:
            raise CommandError("row counts differ between the two servers: do not switch")
        login = {**target_owner, "USER": territory.role, "PASSWORD": ""}
        prefix = env_prefix(territory)
        self.stdout.write(self.style.SUCCESS(f"{module} copied ({len(before)} tables). Now set"))
        self.stdout.write(f"  {prefix}_DATABASE_URL={database_url(login, dbname=target_db)}")
        self.stdout.write(f"  {prefix}_DATABASE_OWNER_URL={options['to']}")
        self.stdout.write(f"and start {module}'s workers (celery -A project worker -Q {module}).")


# Column options a server may carry that another does not know (a patched build
# tags every column with `pg_attver`); only the standard ones are kept.
_COLUMN_OPTIONS = re.compile(r"^(ALTER TABLE ONLY .* ALTER COLUMN .* SET \()(.*)(\);)$")
_STANDARD_OPTIONS = ("n_distinct=", "n_distinct_inherited=")


def _portable(script: str) -> str:
    """The restore script without column options foreign to a stock server."""
    lines = []
    for line in script.splitlines():
        match = _COLUMN_OPTIONS.match(line)
        if match:
            options = [o.strip() for o in match.group(2).split(",")]
            kept = [o for o in options if o.startswith(_STANDARD_OPTIONS)]
            if not kept:
                continue
            line = f"{match.group(1)}{', '.join(kept)}{match.group(3)}"
        lines.append(line)
    return "\n".join(lines)


def _refuse_unless_ready(source: str, role: str) -> None:
    """Both owners must be superusers (they copy the role's tables as they are), and
    nothing may be connected as the module on the old server (its workers and web
    processes are stopped: a write after the copy would be lost)."""
    from django.db import connections

    connections.close_all()  # this process's own sessions do not count
    with psycopg.connect(source, autocommit=True) as conn:
        sessions = single_value(
            conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE usename = %s AND datname = current_database()",
                [role],
            )
        )
    if sessions:
        raise CommandError(
            f"{sessions} session(s) still use {role} on the old server: stop the module's"
            " workers and web processes first"
        )
    _require_superuser(source)


def _require_superuser(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        superuser = single_value(
            conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        )
    if not superuser:
        raise CommandError("the owner logins must be superusers (they copy the module as is)")


def _run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise CommandError(f"{Path(command[0]).name} failed: {result.stderr.strip()}")
    return result.stdout


def _tables(dsn: str, schema: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", [schema]
        ).fetchall()
    return [name for (name,) in rows]


def _row_counts(dsn: str, schema: str) -> dict[str, int]:
    counts = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in _tables(dsn, schema):
            query = sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
            counts[table] = single_value(conn.execute(query))
    return counts
