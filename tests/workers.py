"""Real Celery workers for tests, run by the process model (`manage.py serve`): on the
configured broker, against the test database, killable like a crashed machine."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from django.conf import settings

from project.provisioning import server_of
from project.topology import MODULES
from tests.runtime.supervised import Supervised, process_model

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
) -> Iterator[list[Supervised]]:
    """Celery workers (two pool processes) as production runs them: `manage.py serve`
    with no web, under supervisord, with beat unless told not; stopped gracefully
    (or found killed) on the way out. `include`: more modules for the workers to
    import (`tests.events.probe`: the probe).

    A module on another server (a split run) gets a host of its own whose worker
    serves only its queue, as it would in production.
    """
    base = {
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "BOXOFFICE_WEB_WORKERS": "0",
        "EVENTS_SWEEP_SECONDS": "0.5",
        "BOOKING_EXPIRY_SWEEP_SECONDS": "0.5",
        "CELERY_INCLUDE": ",".join(include),
        **(environment or {}),  # which may override those
    }
    wanted = queues.split(",")
    dedicated = [module for module in moved_modules() if module in wanted]
    shared = [queue for queue in wanted if queue not in dedicated]
    groups = [(",".join(shared), beat)] + [(module, False) for module in dedicated]
    with contextlib.ExitStack() as stack:
        hosts = []
        for group, with_beat in groups:
            if not group:
                continue
            env = {**base, "BOXOFFICE_WORKERS": f"{group}:2", "BOXOFFICE_BEAT": str(int(with_beat))}
            if group in dedicated:
                env.update(unreachable_but(group))
            host = process_model(database, folder / f"host-{time.monotonic_ns()}", environment=env)
            hosts.append(stack.enter_context(host))
        yield hosts


# Where a dedicated worker finds the other modules: nowhere. If it touched another
# module's database, its tasks would fail and the test with them.
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/unreachable"


def unreachable_but(module: str) -> dict[str, str]:
    """The environment of a host for `module` alone: every other module's alias
    points at no server (the event store and the platform stay reachable)."""
    others = [m for m in MODULES if m not in (module, "events")]
    return {f"{m.upper()}_DATABASE_URL": UNREACHABLE for m in others}


def kill(hosts: list[Supervised]) -> None:
    """SIGKILL every process of the hosts at once, as a lost machine: supervisord and
    each program's process group; no shutdown, no acks, no clean-up."""
    for host in hosts:
        programs = [host.pid(name) for name in host.states()]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(host.process.pid, signal.SIGKILL)
        for pid in filter(None, programs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        host.process.wait(timeout=30)


def wait_until(condition: Callable[[], bool], *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.1)
