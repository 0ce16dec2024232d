"""Shared set-up for benchmarks: a fresh, provisioned database, like the tests'.

with bench_database():
    ...  # every alias points at `bench_boxoffice`, migrated, as its own role
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Production-like settings, for this process and the workers it starts alike
# (not the test settings, even when a test runs a benchmark).
os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("BOXOFFICE_LOG_LEVEL", "WARNING")
# A private run folder: the filesystem broker's queue is not shared with a
# `make run` on the same checkout. Worker processes a benchmark starts inherit it.
os.environ.setdefault("BOXOFFICE_RUN_DIR", tempfile.mkdtemp(prefix="boxoffice-bench-"))

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from project.provisioning import drop_fresh_database, use_fresh_database  # noqa: E402


@contextlib.contextmanager
def bench_database(name: str = "bench_boxoffice") -> Iterator[str]:
    use_fresh_database(name=name, databases=settings.DATABASES, owner=settings.DATABASE_OWNER)
    try:
        yield name
    finally:
        drop_fresh_database(name=name, owner=settings.DATABASE_OWNER)


def report(figures: dict) -> None:
    print(json.dumps(figures), flush=True)
