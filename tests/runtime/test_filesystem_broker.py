"""A worker on the filesystem broker (what `make run` uses when nothing is configured)
goes on taking tasks after its pool processes are killed mid-task.

Celery runs its asynchronous pool only over a transport with an event loop, and
without it the pool processes share one lock on the task queue: one killed while
it held the lock left the worker running but idle (project/broker.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from kombu import Connection

from project.broker import make_folders
from project.process_model import ProcessModel
from project.settings import broker_transport_options
from tests.runtime.pool_probe import note
from tests.runtime.supervised import children
from tests.workers import wait_until

ROOT = Path(__file__).resolve().parents[2]
KILLS = 10


class Probe:
    def __init__(self, folder: Path) -> None:
        self.log = folder / "noted"
        self.options = broker_transport_options("filesystem://", folder / "broker")
        make_folders(self.options)

    def send(self, numbers: range) -> None:
        with Connection("filesystem://", transport_options=self.options) as connection:
            for number in numbers:
                note.apply_async((number,), connection=connection, queue="events")

    def noted_five_more(self) -> Callable[[], bool]:
        before = len(self.noted())
        return lambda: len(self.noted()) >= before + 5

    def noted(self) -> set[int]:
        if not self.log.exists():
            return set()
        return {int(line) for line in self.log.read_text().split()}


@contextlib.contextmanager
def worker(folder: Path, probe: Probe) -> Iterator[subprocess.Popen[bytes]]:
    """The worker program of the process model (two pool processes, queue `events`),
    alone on a broker folder of the test's own."""
    model = ProcessModel.from_environ(
        {"BOXOFFICE_WEB_WORKERS": "0", "BOXOFFICE_BEAT": "0", "BOXOFFICE_WORKERS": "events:2"},
        run_dir=folder,
    )
    [command] = model.programs().values()
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "BOXOFFICE_RUN_DIR": str(folder),
        "CELERY_BROKER_URL": "filesystem://",
        "BOXOFFICE_BROKER_DIR": str(folder / "broker"),
        "CELERY_INCLUDE": "tests.runtime.pool_probe",
        "POOL_PROBE_LOG": str(probe.log),
    }
    process = subprocess.Popen(command, cwd=ROOT, env=environment, start_new_session=True)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # what is left of it: no orphans
        process.wait()


def test_killed_pool_processes_do_not_stop_the_worker(tmp_path: Path) -> None:
    probe = Probe(tmp_path)
    probe.send(range(1000))
    with worker(tmp_path, probe) as process:
        for kill in range(KILLS):
            # Kill a pool process (each in turn) once the pool works again after the last kill.
            wait_until(probe.noted_five_more(), timeout=20)
            with contextlib.suppress(ProcessLookupError, IndexError):
                pool = children(process.pid)
                os.kill(pool[kill % len(pool)], signal.SIGKILL)
        # A killed task is lost (acknowledged on receipt; the sweeps make up for
        # it), the tasks after it are not.
        probe.send(range(1000, 1050))
        wait_until(lambda: set(range(1000, 1050)) <= probe.noted(), timeout=60)
        assert process.poll() is None
