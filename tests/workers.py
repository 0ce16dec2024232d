"""Real Celery worker processes for tests: on the configured broker, against the test
database, killable like a crashed machine."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from django.conf import settings

from project.provisioning import child_database_environment, server_of
from project.topology import MODULES

ROOT = Path(__file__).resolve().parent.parent
ALL_QUEUES = "events,customers,orders,ticketing,bookings"


def moved_modules() -> list[str]:
    """Modules whose database is on another server than the owner's (a split run)."""
    main = server_of(settings.DATABASE_OWNER)
    return sorted(
        alias
        for alias, owner in settings.DATABASE_OWNERS.items()
        if alias in MODULES and server_of(owner) != main
    )


@contextlib.contextmanager
def worker_process(
    database: str,
    folder: Path,
    *,
    queues: str = ALL_QUEUES,
    beat: bool = True,
    environment: dict[str, str] | None = None,
    include: Sequence[str] = (),
) -> Iterator[list[subprocess.Popen]]:
    """`celery -A project worker` (prefork, two processes, with beat unless told not),
    each in a process group of its own; stopped (or found killed) on the way out.
    `include`: more modules for it to import (`tests.events.probe`: the probe).

    A module on another server (a split run) gets a worker of its own, serving
    only its queue, as it would in production.
    """
    env = dict(os.environ)
    env.update(child_database_environment(dbname=database))
    env.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        BOXOFFICE_RUN_DIR=str(settings.RUN_DIR),  # the filesystem broker's folder, if used
        BOXOFFICE_LOG_LEVEL="WARNING",
        EVENTS_SWEEP_SECONDS="0.5",
        BOOKING_EXPIRY_SWEEP_SECONDS="0.5",
    )
    env.update(environment or {})  # which may override those
    wanted = queues.split(",")
    dedicated = [module for module in moved_modules() if module in wanted]
    shared = [queue for queue in wanted if queue not in dedicated]
    groups = [(",".join(shared), beat)] + [(module, False) for module in dedicated]
    processes = [
        _start(
            _only_its_own(env, group) if group in dedicated else env,
            folder,
            group,
            with_beat,
            include,
        )
        for group, with_beat in groups
        if group
    ]
    try:
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()  # a warm shutdown: the main process stops its children
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kill([process])
            # An embedded beat can outlive its worker's warm shutdown, and would go
            # on sending sweeps into the next test: nothing of the group may stay.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


# Where a dedicated worker finds the other modules: nowhere. If it touched another
# module's database, its tasks would fail and the test with them.
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/unreachable"


def _only_its_own(env: dict[str, str], module: str) -> dict[str, str]:
    """The environment of a worker for `module` alone: every other module's alias
    points at no server (the event store and the platform stay reachable)."""
    others = [m for m in MODULES if m not in (module, "events")]
    return {**env, **{f"{m.upper()}_DATABASE_URL": UNREACHABLE for m in others}}


def _start(
    env: dict[str, str], folder: Path, queues: str, beat: bool, include: Sequence[str] = ()
) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "celery", "-A", "project", "worker", "--loglevel", "WARNING",
        "--concurrency", "2", "--queues", queues, "--without-mingle", "--without-gossip",
        "--hostname", f"{queues.replace(',', '-')}@%h",
    ]  # fmt: skip
    if include:
        command += ["--include", ",".join(include)]
    if beat:
        command += ["--beat", "--schedule", str(folder / f"beat-{time.monotonic_ns()}")]
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def kill(processes: list[subprocess.Popen]) -> None:
    """SIGKILL the workers and their children at once: no shutdown, no acks, no clean-up."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    for process in processes:
        process.wait(timeout=30)


def wait_until(condition: Callable[[], bool], *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.1)
