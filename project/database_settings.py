"""Builds `DATABASES` from the environment: one alias per territory, each its own role.

- `DATABASE_URL` is the owner connection, used only to provision. With none set,
  the embedded server is started and used.
- Every alias reuses the owner's server and database but logs in as its own role
  with `search_path` pinned to its own schema.
- `<ALIAS>_DATABASE_URL` (`CUSTOMERS_DATABASE_URL`, ..., `PLATFORM_DATABASE_URL`
  for `default`) replaces one alias's connection outright, so a module can live
  on another server. `<ALIAS>_DATABASE_PASSWORD` sets just the password.
- `<ALIAS>_DATABASE_OWNER_URL` is the owner login on that other server, for
  `provision_db`; without it, the alias's URL with the owner's user and password.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dj_database_url

from project.topology import PLATFORM_ALIAS, TERRITORIES, Territory

DjangoDatabase = dict[str, Any]


def parse_url(url: str) -> DjangoDatabase:
    config = dj_database_url.parse(url)
    options = dict(config.get("OPTIONS", {}))
    # libpq-style `?host=/socket/dir` comes back as an option; Django wants it in HOST.
    if "host" in options:
        config["HOST"] = options.pop("host")
    config["OPTIONS"] = options
    return dict(config)


def owner_database(environ: Mapping[str, str]) -> DjangoDatabase:
    url = environ.get("DATABASE_URL")
    if not url:
        from project import embedded_postgres

        url = embedded_postgres.ensure_running()
    return parse_url(url)


def env_prefix(territory: Territory) -> str:
    return "PLATFORM" if territory.alias == PLATFORM_ALIAS else territory.alias.upper()


def territory_database(
    territory: Territory, owner: DjangoDatabase, environ: Mapping[str, str]
) -> DjangoDatabase:
    prefix = env_prefix(territory)
    override = environ.get(f"{prefix}_DATABASE_URL")
    if override:
        config = parse_url(override)
        if not config.get("PASSWORD"):  # kept out of the URL, as for a shared server
            config["PASSWORD"] = environ.get(f"{prefix}_DATABASE_PASSWORD", "")
    else:
        config = {
            **owner,
            "OPTIONS": dict(owner.get("OPTIONS", {})),
            "USER": territory.role,
            "PASSWORD": environ.get(f"{prefix}_DATABASE_PASSWORD", ""),
        }
    config["OPTIONS"].update(
        {
            "options": f"-c search_path={territory.schema}",
            "connect_timeout": int(environ.get("DATABASE_CONNECT_TIMEOUT", "5")),
            "application_name": f"boxoffice:{territory.alias}",
        }
    )
    config["OPTIONS"].update(_statement_options(environ))
    config["CONN_MAX_AGE"] = int(environ.get("DATABASE_CONN_MAX_AGE", "60"))
    config["CONN_HEALTH_CHECKS"] = True
    config["ATOMIC_REQUESTS"] = False
    return config


def _statement_options(environ: Mapping[str, str]) -> dict[str, Any]:
    """Values bound by the server, and statements a connection runs often prepared.

    Django binds on the client and prepares nothing by default. Planning the
    same few statements again and again is wasted work under the saga's load
    (docs/benchmarks.md). `DATABASE_PREPARE_THRESHOLD=`
    (empty) turns preparing off, for a pooler that cannot keep prepared
    statements (PgBouncer before 1.22 in transaction mode: docs/operations.md).
    """
    threshold = environ.get("DATABASE_PREPARE_THRESHOLD", "5").strip()
    return {
        "server_side_binding": True,
        "prepare_threshold": int(threshold) if threshold else None,
    }


# Per-role session limits, set by `provision_db` (`ALTER ROLE ... IN DATABASE ... SET`):
# the setting, its environment variable and its default (docs/operations.md,
# "Time limits"). A value is anything PostgreSQL takes (`30s`, `2min`, `0`: none);
# empty: the server's own default.
SESSION_LIMITS = (
    ("statement_timeout", "DATABASE_STATEMENT_TIMEOUT", "30s"),
    ("lock_timeout", "DATABASE_LOCK_TIMEOUT", "10s"),
    ("idle_in_transaction_session_timeout", "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT", "60s"),
)


def session_limits(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        name: environ.get(variable, default).strip() for name, variable, default in SESSION_LIMITS
    }


def build_databases(environ: Mapping[str, str], owner: DjangoDatabase) -> dict[str, DjangoDatabase]:
    return {t.alias: territory_database(t, owner, environ) for t in TERRITORIES}


def build_owners(
    environ: Mapping[str, str], owner: DjangoDatabase, databases: dict[str, DjangoDatabase]
) -> dict[str, DjangoDatabase]:
    """The owner login of each alias's server, for provisioning (docs/splitting-out.md)."""
    owners: dict[str, DjangoDatabase] = {}
    for territory in TERRITORIES:
        prefix = env_prefix(territory)
        if not environ.get(f"{prefix}_DATABASE_URL"):
            owners[territory.alias] = owner
            continue
        explicit = environ.get(f"{prefix}_DATABASE_OWNER_URL")
        if explicit:
            owners[territory.alias] = parse_url(explicit)
            continue
        moved = databases[territory.alias]
        owners[territory.alias] = {
            **owner,
            "OPTIONS": dict(owner.get("OPTIONS", {})),
            "HOST": moved.get("HOST"),
            "PORT": moved.get("PORT"),
            "NAME": moved.get("NAME"),
        }
    return owners
