"""Provisioning: the database, one role and one schema per territory, and nothing shared.

Idempotent: run it on every deploy. It connects with the owner's credentials
(`DATABASE_URL`), which nothing else uses.

What it guarantees, and what `tests/test_schema_isolation.py` checks:
- each role logs in, cannot create databases or roles, inherits nothing;
- each schema is owned by its role and nobody else has any right on it;
- `PUBLIC` has no right on the database or on the `public` schema.

It also sets each role's session limits in this database (`statement_timeout`,
`lock_timeout`, `idle_in_transaction_session_timeout`: `DATABASE_SESSION_LIMITS`,
docs/operations.md "Time limits"); run again with other values, it updates them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from project.topology import TERRITORIES

Log = Callable[[str], None]
_ROLES_LOCK = "boxoffice.provision.roles"


@dataclass(frozen=True)
class RoleSchema:
    role: str
    schema: str
    password: str = ""


def single_value(cursor: psycopg.Cursor[Any]) -> Any:
    """The one value of a query that returns one row (an aggregate, a setting)."""
    row = cursor.fetchone()
    if row is None:
        raise psycopg.DataError("the query returned no row")
    return row[0]


def territory_logins(
    databases: dict[str, dict[str, Any]], *, aliases: Iterable[str] | None = None
) -> list[RoleSchema]:
    """The role and schema of each alias (or of `aliases`), as configured in `DATABASES`."""
    wanted = set(aliases) if aliases is not None else {t.alias for t in TERRITORIES}
    return [
        RoleSchema(
            role=databases[t.alias]["USER"],
            schema=t.schema,
            password=databases[t.alias].get("PASSWORD") or "",
        )
        for t in TERRITORIES
        if t.alias in wanted
    ]


Server = tuple[str, str]  # (host or socket folder, port)


def server_of(config: dict[str, Any]) -> Server:
    return (str(config.get("HOST") or ""), str(config.get("PORT") or ""))


def aliases_by_server(owners: dict[str, dict[str, Any]]) -> dict[Server, list[str]]:
    """Which aliases each database server hosts (by their owners' connections)."""
    servers: dict[Server, list[str]] = {}
    for alias, owner in owners.items():
        servers.setdefault(server_of(owner), []).append(alias)
    return servers


def provision_servers(
    *,
    owners: dict[str, dict[str, Any]],
    databases: dict[str, dict[str, Any]],
    database: str | None = None,
    log: Log = print,
) -> list[str]:
    """Provision every server for just the aliases it hosts: the database, and a role
    and a schema per alias. `database` overrides each server's database name.
    Returns the databases provisioned, as `host:port/name`."""
    done = []
    for aliases in aliases_by_server(owners).values():
        owner = owners[aliases[0]]
        name = database or owner["NAME"]
        logins = territory_logins(databases, aliases=aliases)
        provision(owner=owner, database=name, logins=logins, log=log)
        host, port = server_of(owner)
        done.append(f"{host}:{port}/{name} ({', '.join(sorted(aliases))})")
    return done


def conninfo(config: dict[str, Any], *, dbname: str) -> str:
    """libpq conninfo for a Django-style database settings dict."""
    params = {
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "dbname": dbname,
        "connect_timeout": 10,
    }
    return psycopg.conninfo.make_conninfo("", **{k: v for k, v in params.items() if v is not None})


def database_url(config: dict[str, Any], *, dbname: str) -> str:
    """A `DATABASE_URL` for a Django-style settings dict and another database name:
    what a child process (a worker started by a test or a benchmark) is given."""
    host, port = config.get("HOST") or "", config.get("PORT") or ""
    user = quote(config.get("USER") or "postgres")
    password = f":{quote(config['PASSWORD'])}" if config.get("PASSWORD") else ""
    if host.startswith("/"):  # a unix socket folder
        return f"postgresql://{user}{password}@/{dbname}?host={quote(host)}"
    return f"postgresql://{user}{password}@{host}:{port}/{dbname}"


def _maintenance(owner: dict[str, Any]) -> psycopg.Connection:
    last_error: Exception | None = None
    for dbname in ("postgres", "template1"):
        try:
            return psycopg.connect(conninfo(owner, dbname=dbname), autocommit=True)
        except psycopg.OperationalError as exc:
            last_error = exc
    raise RuntimeError(f"cannot reach the owner's server: {last_error}")


def provision(
    *,
    owner: dict[str, Any],
    database: str,
    logins: Iterable[RoleSchema],
    log: Log = print,
    limits: Mapping[str, str] | None = None,
) -> None:
    """`limits`: each role's session limits here; by default `DATABASE_SESSION_LIMITS`."""
    logins = list(logins)
    limits = _configured_limits() if limits is None else limits
    with _maintenance(owner) as conn:
        # Roles are cluster-wide; parallel provisioners (test workers) take turns.
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", [_ROLES_LOCK])
        try:
            _ensure_database(conn, database, log)
            for login in logins:
                _ensure_role(conn, login, log)
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", [_ROLES_LOCK])

    with psycopg.connect(conninfo(owner, dbname=database)) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [_ROLES_LOCK])
        db = sql.Identifier(database)
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
        conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        owner_is_superuser = single_value(
            conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        )
        server_version = conn.info.server_version
        for login in logins:
            _ensure_schema(conn, database, login, owner_is_superuser, server_version, log)
            _ensure_limits(conn, database, login, limits)


def drop_database(*, owner: dict[str, Any], database: str) -> None:
    with _maintenance(owner) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )


def _ensure_database(conn: psycopg.Connection, database: str, log: Log) -> None:
    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
    if not exists:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        log(f"created database {database}")


def _ensure_role(conn: psycopg.Connection, login: RoleSchema, log: Log) -> None:
    role = sql.Identifier(login.role)
    attributes: sql.Composable = sql.SQL(
        "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS"
    )
    if login.password:
        attributes = sql.SQL("{} PASSWORD {}").format(attributes, sql.Literal(login.password))
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [login.role]).fetchone()
    if exists:
        conn.execute(sql.SQL("ALTER ROLE {} WITH {}").format(role, attributes))
    else:
        conn.execute(sql.SQL("CREATE ROLE {} WITH {}").format(role, attributes))
        log(f"created role {login.role}")


def _ensure_schema(
    conn: psycopg.Connection,
    database: str,
    login: RoleSchema,
    owner_is_superuser: bool,
    server_version: int,
    log: Log,
) -> None:
    role, schema = sql.Identifier(login.role), sql.Identifier(login.schema)
    conn.execute(
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), role)
    )
    if not owner_is_superuser:
        # A plain owner may only hand a schema to a role it can SET ROLE to.
        membership = (
            "GRANT {} TO CURRENT_USER WITH INHERIT FALSE, SET TRUE"
            if server_version >= 160000
            else "GRANT {} TO CURRENT_USER"
        )
        conn.execute(sql.SQL(membership).format(role))
    exists = conn.execute(
        "SELECT 1 FROM pg_namespace WHERE nspname = %s", [login.schema]
    ).fetchone()
    if not exists:
        conn.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(schema, role))
        log(f"created schema {login.schema} owned by {login.role}")
    conn.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(schema, role))
    conn.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(schema))
    conn.execute(
        sql.SQL("ALTER ROLE {} IN DATABASE {} SET search_path = {}").format(
            role, sql.Identifier(database), schema
        )
    )


def _configured_limits() -> dict[str, str]:
    from django.conf import settings

    return dict(getattr(settings, "DATABASE_SESSION_LIMITS", {}))


def _ensure_limits(
    conn: psycopg.Connection, database: str, login: RoleSchema, limits: Mapping[str, str]
) -> None:
    """Per role and database (as its `search_path`): roles are cluster-wide, and
    another database on the server may want other limits. Empty: the server's."""
    prefix = sql.SQL("ALTER ROLE {} IN DATABASE {}").format(
        sql.Identifier(login.role), sql.Identifier(database)
    )
    for name, value in limits.items():
        if value:
            statement = sql.SQL("{} SET {} = {}").format(
                prefix, sql.Identifier(name), sql.Literal(value)
            )
        else:
            statement = sql.SQL("{} RESET {}").format(prefix, sql.Identifier(name))
        conn.execute(statement)


# What a session that must not be cut by the roles' limits lifts for itself:
# migrations (an index built concurrently, a table rewritten) and rebuilds of
# read models.
LIFTED_LIMITS = ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")


@contextlib.contextmanager
def sessions_without_limits(aliases: Iterable[str] | None = None) -> Iterator[None]:
    """The sessions of `aliases` (default: all) without the roles' limits while
    inside (`SET`), and back to them after (`RESET`: the role's values).

    `SET`, not connection options: it works on the connections already open,
    inside a transaction too (a test's). A session it cannot reset is closed,
    so none goes on unlimited.
    """
    from django.db import DatabaseError, connections

    chosen = list(connections) if aliases is None else list(aliases)
    for alias in chosen:
        with connections[alias].cursor() as cursor:
            for name in LIFTED_LIMITS:
                cursor.execute(f"SET {name} = 0")
    try:
        yield
    finally:
        for alias in chosen:
            connection = connections[alias]
            if connection.connection is None:
                continue  # closed meanwhile: a new session has the role's limits
            if connection.needs_rollback:
                # Only inside a transaction open since before the SET, whose
                # coming rollback undoes it.
                continue
            try:
                with connection.cursor() as cursor:
                    for name in LIFTED_LIMITS:
                        cursor.execute(f"RESET {name}")
            except DatabaseError:
                connection.close()


def use_fresh_database(
    *, name: str, databases: dict[str, dict[str, Any]], owners: dict[str, dict[str, Any]]
) -> None:
    """Create `name` anew on every server, provisioned like production for the aliases
    it hosts, point every alias at it and migrate each as its own role (the test
    suite's and the benchmarks' set-up)."""
    from django.core.management import call_command
    from django.db import connections

    for aliases in aliases_by_server(owners).values():
        drop_database(owner=owners[aliases[0]], database=name)
    provision_servers(owners=owners, databases=databases, database=name, log=lambda _: None)
    for alias in databases:
        connections[alias].close()
        databases[alias]["NAME"] = name
        connections[alias].settings_dict["NAME"] = name
    with sessions_without_limits(databases):  # as `migrate_all`
        for alias in databases:
            call_command("migrate", database=alias, interactive=False, verbosity=0)


def drop_fresh_database(*, name: str, owners: dict[str, dict[str, Any]]) -> None:
    from django.db import connections

    connections.close_all()
    for aliases in aliases_by_server(owners).values():
        drop_database(owner=owners[aliases[0]], database=name)


def child_database_environment(*, dbname: str) -> dict[str, str]:
    """The database variables for a child process (a worker a test or a benchmark
    starts) to use `dbname` as this process does, moved aliases included."""
    from django.conf import settings

    from project.database_settings import env_prefix
    from project.topology import territory_for_alias

    owner = settings.DATABASE_OWNER
    env = {"DATABASE_URL": database_url(owner, dbname=dbname)}
    for alias, alias_owner in settings.DATABASE_OWNERS.items():
        if server_of(alias_owner) != server_of(owner):
            prefix = env_prefix(territory_for_alias(alias))
            env[f"{prefix}_DATABASE_URL"] = database_url(settings.DATABASES[alias], dbname=dbname)
            env[f"{prefix}_DATABASE_OWNER_URL"] = database_url(alias_owner, dbname=dbname)
    return env
