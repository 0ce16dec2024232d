"""Module boundaries in code: `lint-imports` passes here and fails on a crossing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", "importlinter.ini", "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    for name in ("apps", "project"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "importlinter.ini", tmp_path)
    return tmp_path


def test_the_tree_keeps_every_contract() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_orders_importing_customers_models_breaks_the_build(tree_copy: Path) -> None:
    (tree_copy / "apps/orders/leak.py").write_text("from apps.customers import models\n")
    result = lint(tree_copy)
    assert result.returncode != 0
    assert "customers is private except apps.customers.public BROKEN" in result.stdout
    assert "apps.orders.leak -> apps.customers.models" in result.stdout


def test_the_composition_root_may_not_reach_into_a_module(tree_copy: Path) -> None:
    (tree_copy / "project/leak.py").write_text("import apps.bookings.models\n")
    result = lint(tree_copy)
    assert result.returncode != 0
    assert "project.leak -> apps.bookings.models" in result.stdout


def test_importing_another_modules_public_face_is_allowed(tree_copy: Path) -> None:
    (tree_copy / "apps/orders/uses_public.py").write_text("from apps.customers import public\n")
    (tree_copy / "apps/orders/uses_public_sub.py").write_text(
        "import apps.customers.public.messages\n"
    )
    (tree_copy / "apps/customers/public/messages.py").write_text("")
    result = lint(tree_copy)
    assert result.returncode == 0, result.stdout


def test_a_cycle_between_modules_breaks_the_build(tree_copy: Path) -> None:
    (tree_copy / "apps/orders/public/uses.py").write_text("import apps.customers.public.uses\n")
    (tree_copy / "apps/customers/public/uses.py").write_text("import apps.orders.public.uses\n")
    result = lint(tree_copy)
    assert result.returncode != 0
    assert "Modules do not depend on each other in a cycle BROKEN" in result.stdout


def test_models_may_not_import_services(tree_copy: Path) -> None:
    (tree_copy / "apps/orders/services.py").write_text("")
    (tree_copy / "apps/orders/models.py").write_text("from apps.orders import services\n")
    result = lint(tree_copy)
    assert result.returncode != 0
    assert "Inside a module, dependencies point down BROKEN" in result.stdout
