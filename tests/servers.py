"""Servers tests start: a second PostgreSQL (the embedded one, in a folder of its
own) and the production web server."""

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
        cwd=ROOT, env=env, check=False, capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"embedded {command} failed: {result.stdout}{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


@contextlib.contextmanager
def second_server(data: Path) -> Iterator[str]:
    """Start it; yield its owner URL (database `boxoffice`); stop it afterwards."""
    embedded("start", data)
    try:
        yield embedded("url", data)
    finally:
        embedded("stop", data)


def production_environment(database: str) -> dict[str, str]:
    """This process's environment for a server on `database` (moved aliases included)
    with the production settings, as on a host behind a TLS proxy."""
    import secrets

    from project.provisioning import child_database_environment

    env = dict(os.environ)
    env.update(child_database_environment(dbname=database))
    env.update(
        DJANGO_SETTINGS_MODULE="project.settings_production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        BOXOFFICE_LOG_LEVEL="WARNING",
    )
    return env


@contextlib.contextmanager
def web_server(database: str) -> Iterator[str]:
    """The production web server (gunicorn, two sync workers) with the production
    settings (`project.settings_production`: behind a TLS proxy, so a client
    sends `X-Forwarded-Proto: https`) on `database`, on a free local port;
    yields its base URL. Stopped, with its workers, on the way out."""
    import http.client
    import signal
    import socket
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = production_environment(database)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [str(gunicorn), "project.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                probe_http = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                probe_http.request("GET", "/api/health/")
                probe_http.getresponse().read()  # any answer: it serves
                probe_http.close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # gunicorn stops its workers
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
