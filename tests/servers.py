"""A second PostgreSQL server for tests: the embedded one, in a folder of its own."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def embedded(command: str, data: Path) -> str:
    """Run `python -m project.embedded_postgres COMMAND` for the server in `data`."""
    env = dict(os.environ, BOXOFFICE_PGDATA=str(data))
    result = subprocess.run(
        [sys.executable, "-m", "project.embedded_postgres", command],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return result.stdout.strip().splitlines()[-1]


@contextlib.contextmanager
def second_server(data: Path) -> Iterator[str]:
    """Start it; yield its owner URL (database `boxoffice`); stop it afterwards."""
    embedded("start", data)
    try:
        yield embedded("url", data)
    finally:
        embedded("stop", data)
