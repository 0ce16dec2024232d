"""Configuration: per-module connections from the environment, production hardening."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from project.database_settings import build_databases, parse_url
from project.topology import MODULES, TERRITORIES

ROOT = Path(__file__).resolve().parent.parent
OWNER = parse_url("postgresql://owner:pw@db.internal:5432/boxoffice")


def test_every_alias_shares_the_owners_server_as_its_own_role() -> None:
    databases = build_databases({}, OWNER)
    assert list(databases) == [t.alias for t in TERRITORIES]
    for territory in TERRITORIES:
        config = databases[territory.alias]
        assert (config["HOST"], config["PORT"], config["NAME"]) == (
            "db.internal",
            5432,
            "boxoffice",
        )
        assert config["USER"] == territory.role
        assert config["PASSWORD"] == ""
        assert config["OPTIONS"]["options"] == f"-c search_path={territory.schema}"


def test_a_module_url_moves_just_that_module() -> None:
    environ = {
        "ORDERS_DATABASE_URL": "postgresql://orders_role:s3cret@orders-db:6543/orders_store",
        "CUSTOMERS_DATABASE_PASSWORD": "pw2",
    }
    databases = build_databases(environ, OWNER)
    orders = databases["orders"]
    assert (orders["HOST"], orders["PORT"], orders["NAME"]) == ("orders-db", 6543, "orders_store")
    assert (orders["USER"], orders["PASSWORD"]) == ("orders_role", "s3cret")
    assert orders["OPTIONS"]["options"] == "-c search_path=orders"
    assert databases["customers"]["PASSWORD"] == "pw2"
    for module in set(MODULES) - {"orders"}:
        assert databases[module]["HOST"] == "db.internal"


def test_values_are_bound_by_the_server_and_repeated_statements_prepared() -> None:
    for config in build_databases({}, OWNER).values():
        assert config["OPTIONS"]["server_side_binding"] is True
        assert config["OPTIONS"]["prepare_threshold"] == 5
    unprepared = build_databases({"DATABASE_PREPARE_THRESHOLD": ""}, OWNER)
    assert all(c["OPTIONS"]["prepare_threshold"] is None for c in unprepared.values())
    assert (
        build_databases({"DATABASE_PREPARE_THRESHOLD": "2"}, OWNER)["orders"]["OPTIONS"][
            "prepare_threshold"
        ]
        == 2
    )


def test_a_unix_socket_url_puts_the_socket_folder_in_host() -> None:
    config = parse_url("postgresql://postgres@/boxoffice?host=/tmp/pg")
    assert config["HOST"] == "/tmp/pg"
    assert "host" not in config["OPTIONS"]


def test_check_deploy_passes_with_production_settings() -> None:
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings_production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "boxoffice.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def manage_check(environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_production_settings_refuse_to_start_without_a_secret_key() -> None:
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings_production"}
    environ.pop("DJANGO_SECRET_KEY", None)
    result = manage_check(environ)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_a_soft_time_limit_not_below_the_hard_one_is_refused() -> None:
    environ = {**os.environ, "TASK_SOFT_TIME_LIMIT_SECONDS": "50", "TASK_TIME_LIMIT_SECONDS": "50"}
    result = manage_check(environ)
    assert result.returncode != 0
    assert "TASK_SOFT_TIME_LIMIT_SECONDS must be below" in result.stderr
