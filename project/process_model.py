"""The process model: which processes Boxoffice runs, how many, and the connections they hold.

    web     gunicorn, BOXOFFICE_WEB_WORKERS workers of BOXOFFICE_WEB_THREADS threads
    worker  one Celery worker per group of queues in BOXOFFICE_WORKERS
    beat    one Celery beat (BOXOFFICE_BEAT=0 on a server that runs a moved module only)

This is the one place that declares them. `manage.py serve` renders it into a
supervisord configuration and runs supervisord, which restarts whatever dies;
`make run` (project/launcher.py) and a production host run that same command.

BOXOFFICE_WORKERS is a list of `queues:concurrency` separated by spaces, `*`
standing for every queue no other group names: `*:2` (the default) is one
worker for every queue; `orders:2 *:2` gives `orders` workers of its own.

Connections are bounded by construction: Django keeps one connection per alias
per thread, a gunicorn worker has a fixed number of threads and a Celery pool
process runs one task at a time. `connection_budget` adds them up per database
server; `serve` refuses to start a topology that would not fit.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from project.topology import MODULES, PLATFORM_ALIAS, TERRITORIES

ROOT = Path(__file__).resolve().parent.parent
QUEUES: tuple[str, ...] = MODULES  # each module's relay and deliveries run on its own queue
ALL_OTHER_QUEUES = "*"

# gunicorn lets in-flight requests finish for this long after SIGTERM; supervisord
# waits a little more before it kills. A Celery worker's warm shutdown waits for
# its running tasks, at most their hard time limit.
WEB_GRACEFUL_SECONDS = 30
WORKER_STOP_WAIT_SECONDS = 60
# A program that dies within this many seconds of starting has failed to start:
# supervisord waits 1, 2, 3, ... seconds before each new try (its backoff).
START_SECONDS = 2
START_RETRIES = 30


class ProcessModelError(ValueError):
    """A topology that cannot run, with what to change."""


@dataclass(frozen=True)
class WorkerGroup:
    """One Celery worker: the queues it consumes and its pool's size."""

    queues: tuple[str, ...]
    concurrency: int

    @property
    def name(self) -> str:
        return "worker" if set(self.queues) == set(QUEUES) else f"worker-{'-'.join(self.queues)}"

    @property
    def aliases(self) -> tuple[str, ...]:
        """The database aliases its tasks use: its modules', the event store's, the platform's."""
        wanted = {*self.queues, "events", PLATFORM_ALIAS}
        return tuple(t.alias for t in TERRITORIES if t.alias in wanted)


@dataclass(frozen=True)
class ProcessModel:
    host: str
    port: int
    web_workers: int
    web_threads: int
    workers: tuple[WorkerGroup, ...]
    beat: bool
    run_dir: Path

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], *, run_dir: Path) -> ProcessModel:
        model = cls(
            host=environ.get("BOXOFFICE_HOST", "127.0.0.1"),
            port=_integer(environ, "BOXOFFICE_PORT", 8000, minimum=1),
            web_workers=_integer(environ, "BOXOFFICE_WEB_WORKERS", 2, minimum=0),
            web_threads=_integer(environ, "BOXOFFICE_WEB_THREADS", 4, minimum=1),
            workers=parse_workers(environ.get("BOXOFFICE_WORKERS", "*:2")),
            beat=environ.get("BOXOFFICE_BEAT", "1").strip().lower() not in {"0", "false", "no"},
            run_dir=run_dir,
        )
        if not model.programs():
            raise ProcessModelError(
                "nothing to run: BOXOFFICE_WEB_WORKERS is 0, BOXOFFICE_WORKERS empty"
                " and BOXOFFICE_BEAT 0"
            )
        return model

    # --- the programs ---------------------------------------------------------

    def programs(self) -> dict[str, list[str]]:
        """Each supervised program's command line, by name."""
        python = sys.executable
        programs: dict[str, list[str]] = {}
        if self.web_workers:
            programs["web"] = [
                str(Path(python).with_name("gunicorn")), "project.wsgi",
                "--bind", f"{self.host}:{self.port}",
                "--workers", str(self.web_workers),
                "--worker-class", "gthread", "--threads", str(self.web_threads),
                "--backlog", "2048",
                "--graceful-timeout", str(WEB_GRACEFUL_SECONDS), "--timeout", "60",
                "--log-level", "warning",
            ]  # fmt: skip
        for group in self.workers:
            programs[group.name] = [
                python, "-m", "celery", "-A", "project", "worker",
                "--loglevel", "WARNING", "--concurrency", str(group.concurrency),
                "--queues", ",".join(group.queues), "--hostname", f"{group.name}@%h",
                "--without-mingle", "--without-gossip",
            ]  # fmt: skip
        if self.beat:
            programs["beat"] = [
                python, "-m", "celery", "-A", "project", "beat", "--loglevel", "WARNING",
                "--schedule", str(self.run_dir / "celerybeat-schedule"),
            ]  # fmt: skip
        return programs

    @property
    def socket_path(self) -> Path:
        """supervisord's control socket; a unix socket's path has at most 107 bytes."""
        path = self.run_dir / "supervisor.sock"
        if len(str(path)) < 100:
            return path
        digest = hashlib.sha256(str(self.run_dir).encode()).hexdigest()[:12]
        return Path("/tmp") / f"boxoffice-{digest}.sock"  # noqa: S108 - a socket, owner-only

    def supervisord_conf(self) -> str:
        run = self.run_dir
        sections = [
            "[supervisord]\nnodaemon=true\n"
            # As root (a container) it says so, rather than warn that it did not switch user.
            + ("user=root\n" if os.geteuid() == 0 else "")
            + f"logfile={run / 'supervisord.log'}\npidfile={run / 'supervisord.pid'}\n"
            f"childlogdir={run}\nloglevel=info\n",
            f"[unix_http_server]\nfile={self.socket_path}\nchmod=0700\n",
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n",
            f"[supervisorctl]\nserverurl=unix://{self.socket_path}\n",
        ]
        for name, command in self.programs().items():
            stop_wait = WEB_GRACEFUL_SECONDS + 5 if name == "web" else WORKER_STOP_WAIT_SECONDS
            sections.append(
                # supervisord expands %(...)s in a command: a literal % is written %%.
                f"[program:{name}]\ncommand={shlex.join(command).replace('%', '%%')}\n"
                f"directory={ROOT}\n"
                f"autostart=true\nautorestart=true\nstartsecs={START_SECONDS}\n"
                f"startretries={START_RETRIES}\nstopsignal=TERM\nstopwaitsecs={stop_wait}\n"
                # SIGTERM to the program alone: its master stops its children in its own
                # way (a Celery pool process given SIGTERM itself would abort its task).
                "stopasgroup=false\nkillasgroup=true\n"
                "stdout_logfile=/dev/stdout\nstdout_logfile_maxbytes=0\nredirect_stderr=true\n"
            )
        return "\n".join(sections)

    # --- the connection budget ------------------------------------------------

    def connections_per_alias(self) -> dict[str, int]:
        """The most connections the model's processes hold to each alias at once."""
        counts = dict.fromkeys((t.alias for t in TERRITORIES), self.web_workers * self.web_threads)
        for group in self.workers:
            for alias in group.aliases:
                # each pool process, and the worker's main process
                counts[alias] += group.concurrency + 1
        return counts


def parse_workers(spec: str) -> tuple[WorkerGroup, ...]:
    groups: list[tuple[list[str], int]] = []
    for token in spec.split():
        queues_part, _, concurrency_part = token.partition(":")
        if not concurrency_part.isdigit() or int(concurrency_part) < 1:
            raise ProcessModelError(
                f"BOXOFFICE_WORKERS: {token!r} is not `queues:concurrency` (e.g. `orders:2`)"
            )
        queues = [q for q in queues_part.split(",") if q]
        unknown = [q for q in queues if q not in (*QUEUES, ALL_OTHER_QUEUES)]
        if unknown or not queues:
            raise ProcessModelError(
                f"BOXOFFICE_WORKERS: unknown queue {', '.join(unknown) or '(none)'};"
                f" the queues are {', '.join(QUEUES)} and * for the rest"
            )
        groups.append((queues, int(concurrency_part)))
    named = [q for queues, _ in groups for q in queues if q != ALL_OTHER_QUEUES]
    if len(named) != len(set(named)):
        raise ProcessModelError("BOXOFFICE_WORKERS: a queue is named by two workers")
    if sum(ALL_OTHER_QUEUES in queues for queues, _ in groups) > 1:
        raise ProcessModelError("BOXOFFICE_WORKERS: `*` stands in one worker only")
    rest = tuple(q for q in QUEUES if q not in named)
    result = []
    for queues, concurrency in groups:
        expanded = [q for q in queues if q != ALL_OTHER_QUEUES]
        if ALL_OTHER_QUEUES in queues:
            expanded += rest
        if expanded:
            result.append(WorkerGroup(queues=tuple(expanded), concurrency=concurrency))
    return tuple(result)


def headroom_from_environ(environ: Mapping[str, str]) -> int:
    """Connections per server kept for management commands and a shell."""
    return _integer(environ, "BOXOFFICE_DB_HEADROOM", 10, minimum=0)


def _integer(environ: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise ProcessModelError(f"{name} must be a whole number of at least {minimum}: {raw!r}")
    return int(raw)


# --- the budget against the servers ---------------------------------------------------


@dataclass(frozen=True)
class ServerBudget:
    server: str  # host:port
    aliases: tuple[str, ...]
    needed: int  # the model's connections to it, at most
    headroom: int  # kept for management commands and a shell
    max_connections: int | None  # None: the server did not answer
    reserved: int = 0  # superuser_reserved_connections (+ reserved_connections)
    error: str = ""

    @property
    def available(self) -> int:
        return (self.max_connections or 0) - self.reserved

    @property
    def fits(self) -> bool:
        # A server that is down does not stop the rest from starting: requests
        # that need it answer 503 until it is back.
        return self.max_connections is None or self.needed + self.headroom <= self.available


def connection_budget(
    model: ProcessModel, databases: Mapping[str, Mapping[str, Any]], *, headroom: int
) -> list[ServerBudget]:
    """Each server the aliases live on, what the model needs of it and what it allows."""
    from django.db import DatabaseError, connections

    per_alias = model.connections_per_alias()
    by_server: dict[str, list[str]] = {}
    for alias, config in databases.items():
        if not per_alias.get(alias):
            continue  # no process of this model uses it (a host that runs one module)
        server = f"{config.get('HOST') or 'localhost'}:{config.get('PORT') or 5432}"
        by_server.setdefault(server, []).append(alias)
    budgets = []
    for server, aliases in by_server.items():
        needed = sum(per_alias[alias] for alias in aliases)
        try:
            with connections[aliases[0]].cursor() as cursor:
                cursor.execute(
                    "SELECT current_setting('max_connections')::int,"
                    " current_setting('superuser_reserved_connections')::int"
                    " + coalesce(current_setting('reserved_connections', true)::int, 0)"
                )
                max_connections, reserved = cursor.fetchone()
        except DatabaseError as exc:
            error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            budgets.append(
                ServerBudget(server, tuple(aliases), needed, headroom, None, error=error)
            )
            continue
        budgets.append(
            ServerBudget(server, tuple(aliases), needed, headroom, max_connections, reserved)
        )
    return budgets


def describe_budget(model: ProcessModel, budgets: list[ServerBudget]) -> list[str]:
    lines = [
        f"processes: web {model.web_workers} x {model.web_threads} threads; "
        + "; ".join(f"{g.name} {g.concurrency} ({','.join(g.queues)})" for g in model.workers)
        + ("; beat" if model.beat else "; no beat")
    ]
    for budget in budgets:
        if budget.max_connections is None:
            lines.append(
                f"connections to {budget.server} ({', '.join(budget.aliases)}): {budget.needed}"
                f" + {budget.headroom} headroom, not checked: the server did not answer"
                f" ({budget.error})"
            )
            continue
        verdict = "ok" if budget.fits else "TOO MANY"
        lines.append(
            f"connections to {budget.server} ({', '.join(budget.aliases)}): "
            f"{budget.needed} + {budget.headroom} headroom of {budget.available} "
            f"(max_connections {budget.max_connections} - {budget.reserved} reserved): {verdict}"
        )
    return lines


def over_budget_advice(model: ProcessModel, budget: ServerBudget) -> str:
    per_web = model.web_threads * len(budget.aliases)
    return (
        f"the processes would open up to {budget.needed} connections to {budget.server}, "
        f"and with {budget.headroom} kept for commands (BOXOFFICE_DB_HEADROOM) that is more "
        f"than the {budget.available} it allows. Lower BOXOFFICE_WEB_WORKERS (each takes "
        f"{per_web}) or BOXOFFICE_WEB_THREADS, or the concurrency in BOXOFFICE_WORKERS, "
        "move a module to a server of its own (docs/splitting-out.md), "
        "or raise max_connections on that server."
    )
