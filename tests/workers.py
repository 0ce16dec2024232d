"""Real Celery worker processes for tests: on the configured broker, against the test
database, killable like a crashed machine."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings

from project.provisioning import database_url

ROOT = Path(__file__).resolve().parent.parent
ALL_QUEUES = "events,customers,orders,ticketing,bookings"


@contextlib.contextmanager
def worker_process(
    database: str,
    folder: Path,
    *,
    queues: str = ALL_QUEUES,
    beat: bool = True,
    environment: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen]:
    """`celery -A project worker` (prefork, two processes, with beat unless told not)
    in a process group of its own; stopped (or found killed) on the way out."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        DATABASE_URL=database_url(settings.DATABASE_OWNER, dbname=database),
        BOXOFFICE_RUN_DIR=str(settings.RUN_DIR),  # the filesystem broker's folder, if used
        BOXOFFICE_LOG_LEVEL="WARNING",
        EVENTS_SWEEP_SECONDS="0.5",
        BOOKING_EXPIRY_SWEEP_SECONDS="0.5",
        **(environment or {}),
    )
    command = [
        sys.executable, "-m", "celery", "-A", "project", "worker", "--loglevel", "WARNING",
        "--concurrency", "2", "--queues", queues, "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    if beat:
        command += ["--beat", "--schedule", str(folder / f"beat-{time.monotonic_ns()}")]
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()  # a warm shutdown: the main process stops its children
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kill(process)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL the worker and its children at once: no shutdown, no acks, no clean-up."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def wait_until(condition: Callable[[], bool], *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.1)
