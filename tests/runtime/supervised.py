"""The process model for tests: `manage.py serve` (supervisord with gunicorn, Celery
workers and beat) on the test database, and the means to find and kill its processes."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from tests.servers import free_port, production_environment

ROOT = Path(__file__).resolve().parent.parent.parent


def children(pid: int) -> list[int]:
    """The process's children, whichever of its threads forked them (a Celery pool
    without an event loop forks its replacements from a thread of its own)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return sorted(found)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


STATES = {"STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL", "UNKNOWN"}


@dataclass
class Supervised:
    """A running process model: its supervisord, its base URL (if it serves the web)."""

    process: subprocess.Popen
    conf: Path
    url: str | None

    def ctl(self, *args: str) -> str:
        supervisorctl = Path(sys.executable).with_name("supervisorctl")
        result = subprocess.run(
            [str(supervisorctl), "--configuration", str(self.conf), *args],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        return result.stdout

    def states(self) -> dict[str, str]:
        """Each program's state; nothing when supervisord does not answer."""
        rows = [line.split() for line in self.ctl("status").splitlines()]
        return {row[0]: row[1] for row in rows if len(row) > 1 and row[1] in STATES}

    def uptime(self, program: str) -> float:
        """Seconds since the program started; 0 when it is not running."""
        for line in self.ctl("status", program).splitlines():
            # web    RUNNING   pid 123, uptime 0:00:05
            if " RUNNING " in f" {line} " and "uptime" in line:
                hours, minutes, seconds = line.split()[-1].split(":")
                return int(hours) * 3600 + int(minutes) * 60 + int(seconds)
        return 0.0

    def pid(self, program: str) -> int:
        """The program's pid; 0 when it is not running (never signal that: it is our group)."""
        answer = self.ctl("pid", program).strip()
        return int(answer) if answer.isdigit() else 0

    def wait_until_running(self, *, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            states = self.states()
            if states and set(states.values()) == {"RUNNING"} and self.serves():
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the process model did not start: {states}")
            time.sleep(0.2)

    def serves(self) -> bool:
        if self.url is None:
            return True
        try:
            return request(self.url, "GET", "/api/health/live/")[0] == 200
        except OSError:
            return False


def request(
    url: str, method: str, path: str, body: dict | None = None, *, token: str | None = None,
    timeout: float = 30, headers: dict[str, str] | None = None, proxied: bool = True,
) -> tuple[int, dict, dict[str, str]]:  # fmt: skip
    """One request on a connection of its own: (status, JSON body, headers)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    headers = {
        **(headers or {}),
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    if proxied:
        headers["X-Forwarded-Proto"] = "https"  # as the TLS proxy in front says
    if token:
        headers["Authorization"] = f"Token {token}"
    try:
        connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    try:
        data = json.loads(payload) if payload else {}
    except ValueError:
        data = {"raw": payload.decode(errors="replace")}
    return response.status, data, {k.lower(): v for k, v in response.getheaders()}


@contextlib.contextmanager
def process_model(
    database: str, run_dir: Path, *, environment: dict[str, str] | None = None
) -> Iterator[Supervised]:
    """`manage.py serve` with the production settings on `database` (unless `environment`
    says otherwise); stopped (SIGTERM, then SIGKILL to whatever is left) on the way out."""
    run_dir.mkdir(parents=True, exist_ok=True)
    environment = dict(environment or {})
    port = free_port()
    env = production_environment(database)
    env.update(
        BOXOFFICE_RUN_DIR=str(run_dir),  # supervisord's: one per host
        BOXOFFICE_BROKER_DIR=str(settings.BROKER_DIR),  # the filesystem broker's: the tests'
        BOXOFFICE_PORT=str(port),
        BOXOFFICE_DB_HEADROOM="10",
        # Sweeps as often as a filesystem broker (make test with nothing configured)
        # keeps up with beside a flow of orders.
        EVENTS_SWEEP_SECONDS="1",
        BOOKING_EXPIRY_SWEEP_SECONDS="1",
    )
    env.update(environment)  # any of the above overridden (bench/http_load.py: the settings)
    serves = env.get("BOXOFFICE_WEB_WORKERS", "2") != "0"
    log = (run_dir / "serve.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve"], cwd=ROOT, env=env, start_new_session=True,
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    supervised = Supervised(
        process=process,
        conf=run_dir / "supervisord.conf",
        url=f"http://127.0.0.1:{port}" if serves else None,
    )
    try:
        deadline = time.monotonic() + 60
        while not supervised.conf.exists() or not supervised.states():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((run_dir / "serve.log").read_text()[-3000:])
            time.sleep(0.2)
        supervised.wait_until_running()
        yield supervised
    finally:
        programs = []
        with contextlib.suppress(Exception):
            programs = [supervised.pid(name) for name in supervised.states()]
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        for pid in filter(None, programs):  # each program is a process group of its own
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        log.close()
