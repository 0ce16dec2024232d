"""Shared set-up for benchmarks: a fresh, provisioned database, like the tests'.

with bench_database():
    ...  # every alias points at `bench_boxoffice`, migrated, as its own role
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
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

from project.provisioning import (  # noqa: E402
    child_database_environment,
    drop_fresh_database,
    use_fresh_database,
)


@contextlib.contextmanager
def bench_database(name: str = "bench_boxoffice") -> Iterator[str]:
    use_fresh_database(name=name, databases=settings.DATABASES, owners=settings.DATABASE_OWNERS)
    try:
        yield name
    finally:
        drop_fresh_database(name=name, owners=settings.DATABASE_OWNERS)


def warm_up_bus(*, settle: float = 1.5) -> None:
    """Ring every outbox's relay through this process's ringer and every kicked
    subscriber's delivery once, and give the workers `settle` seconds to answer
    (a task still running after it only slows the run). Nothing is placed and
    the tasks find nothing: this only spends, before the clock starts, what a
    running system spent long ago (the ringer thread and its first send, about
    35 ms of imports and connecting; the workers' connections to each module's
    database)."""
    from apps.events import kicks
    from apps.events.public import subscribers
    from apps.events.public.records import outbox_models

    for module in outbox_models():
        kicks.ring_relay_soon(module)
    kicks.ring_deliveries([(s.name, s.module) for s in subscribers.all() if s.kicked])
    time.sleep(settle)


def register_customers(count: int, limit: str) -> list[str]:
    """The standard workload's customers: `count` of them, each with credit `limit`."""
    from decimal import Decimal

    from apps.customers.services import customer_register

    return [
        str(
            customer_register(
                name=f"Bench {c}", email=f"bench{c}@example.com", region="EU",
                credit_limit=Decimal(limit),
            ).id
        )
        for c in range(count)
    ]  # fmt: skip


def report(figures: dict) -> None:
    figures["machine_speed_ms"] = machine_speed_ms()
    print(json.dumps(figures), flush=True)


def machine_speed_ms() -> float:
    """A fixed pure-Python loop, timed (best of three): how fast this shared
    machine runs right now. Figures of runs far apart compare only with it."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i * i
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


QUEUES = "events,customers,orders,ticketing,bookings"


def child_environment(database: str) -> dict[str, str]:
    env = dict(os.environ)  # BOXOFFICE_RUN_DIR included: the same broker folder
    env.update(child_database_environment(dbname=database))
    env.update(
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        BOXOFFICE_LOG_LEVEL="WARNING",
    )
    return env


def start_workers(env: dict[str, str], concurrency: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "project", "worker",
         "--loglevel", os.environ.get("BENCH_WORKER_LOG_LEVEL", "WARNING"),
         "--concurrency", str(concurrency), "--queues", QUEUES, "--without-mingle",
         "--without-gossip", "--prefetch-multiplier", "4"],
        cwd=ROOT,
        env=env,
    )  # fmt: skip


def start_gunicorn(env: dict[str, str], port: int) -> subprocess.Popen:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [str(gunicorn), "project.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health/")
            if conn.getresponse().status in (200, 503):
                return process
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def hop_medians() -> dict[str, dict[str, float]]:
    """Per message type, from the store's own clocks (median ms): `handled`, from the
    cause being stored to this message being published (delivery of the cause), and
    `relayed`, from this message being published to being stored (the relay)."""
    from django.db import connections

    query = """
        SELECT e.type,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY e.occurred_at - c.recorded_at),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY e.recorded_at - e.occurred_at)
        FROM stored_event e JOIN stored_event c ON c.message_id = e.causation_id
        GROUP BY e.type ORDER BY min(e.position)
    """
    with connections["events"].cursor() as cursor:
        cursor.execute(query)
        rows = cursor.fetchall()
    return {
        message_type: {
            "handled": round(handled.total_seconds() * 1000, 1),
            "relayed": round(relayed.total_seconds() * 1000, 1),
        }
        for message_type, handled, relayed in rows
    }


# --- Where the CPU goes -------------------------------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[str, int, float, int]]:
    """Every process now: pid -> (name, parent pid, CPU seconds used so far, start time).

    A process is told apart from an earlier one with its pid by its start time,
    not its name: a kernel worker renames itself after the queue it serves, and
    read by name its whole life's CPU was counted as spent in the run ("other").
    """
    found: dict[int, tuple[str, int, float, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = (
            name,
            int(fields[1]),
            (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS,
            int(fields[19]),
        )
    return found


def postgres_cpu_seconds() -> float:
    """CPU seconds used so far by every PostgreSQL process alive now."""
    return sum(used for name, _, used, _ in _processes().values() if name.startswith("postgres"))


def _machine_busy() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine since boot."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / _CLOCK_TICKS, idle / _CLOCK_TICKS


def _descendants(root: int, children: dict[int, list[int]]) -> set[int]:
    """`root` and every process under it (walked down: after pids wrap round,
    a child's pid may be lower than its parent's)."""
    found, stack = set(), [root]
    while stack:
        pid = stack.pop()
        found.add(pid)
        stack.extend(children.get(pid, ()))
    return found


@contextlib.contextmanager
def cpu_meter(
    workers: subprocess.Popen | None, *, server: subprocess.Popen | None = None
) -> Iterator[dict[str, float]]:
    """CPU seconds used while the block runs, by this process (the client), the
    workers' process tree, the HTTP server's (gunicorn), PostgreSQL, Redis and
    everything else; and idle. A process that ended meanwhile is not counted
    (its CPU is gone from /proc with it)."""
    before, busy_before = _processes(), _machine_busy()
    figures: dict[str, float] = {}
    yield figures
    after, busy_after = _processes(), _machine_busy()
    children: dict[int, list[int]] = {}
    for pid, (_, parent, _, _) in after.items():
        children.setdefault(parent, []).append(pid)
    trees = {
        group: _descendants(root.pid, children)
        for group, root in (("workers", workers), ("server", server))
        if root is not None
    }
    for pid, (name, _, used, started) in after.items():
        earlier = before.get(pid)
        spent = used - (earlier[2] if earlier is not None and earlier[3] == started else 0.0)
        in_tree = [group for group, tree in trees.items() if pid in tree]
        if pid == os.getpid():
            group = "client"
        elif in_tree:
            group = in_tree[0]
        elif name.startswith(("postgres", "postmaster")):
            group = "postgres"
        elif name.startswith("redis"):
            group = "redis"
        else:
            group = "other"
        figures[group] = figures.get(group, 0.0) + spent
    figures["idle"] = busy_after[1] - busy_before[1]
    figures["machine_busy"] = busy_after[0] - busy_before[0]
