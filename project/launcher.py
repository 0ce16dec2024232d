"""`make run`: set everything up, then run the process model under supervisord.

    python -m project.launcher

With no DATABASE_URL it starts the embedded PostgreSQL and stops it again on
exit; with no CELERY_BROKER_URL the broker is kombu's filesystem transport.
The processes are the production ones (`manage.py serve`, project/process_model.py):
gunicorn, Celery workers and beat, each restarted by supervisord if it dies.
Ctrl-C stops every process it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from project.process_model import ProcessModel

ROOT = Path(__file__).resolve().parent.parent


def prepare() -> None:
    import django
    from django.core.management import call_command
    from django.db import connections

    django.setup()
    call_command("provision_db")
    call_command("migrate_all", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    call_command("ensure_superuser")
    call_command("seed_demo")
    connections.close_all()


def serve() -> int:
    """`manage.py serve` in a session of its own, so that Ctrl-C reaches only this
    process, which asks supervisord to stop everything gracefully."""
    stopping = False
    supervisor: subprocess.Popen[bytes] | None = None

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if supervisor is not None and supervisor.poll() is None:
            supervisor.send_signal(signal.SIGTERM)

    # Before the child exists: a Ctrl-C now must not leave it running without us.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    supervisor = subprocess.Popen(
        [sys.executable, "manage.py", "serve"], cwd=ROOT, start_new_session=True
    )
    if stopping:
        supervisor.send_signal(signal.SIGTERM)
    # supervisord ends with 0 when told to stop; anything else is a failure to start.
    return supervisor.wait()


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.chdir(ROOT)
    embedded = not os.environ.get("DATABASE_URL")
    if embedded:
        from project import embedded_postgres

        # One server for every process: they all get its URL.
        os.environ["DATABASE_URL"] = embedded_postgres.ensure_running()
        print(f"embedded PostgreSQL at {os.environ['DATABASE_URL']}")
    try:
        prepare()
        # Where the process model's web server listens (one declaration of it).
        model = ProcessModel.from_environ(os.environ, run_dir=ROOT / ".run")
        url = f"http://{model.host}:{model.port}"
        print(
            f"\nBoxoffice is starting on {url}/\n"
            f"  admin   {url}/admin/\n"
            f"  API     {url}/api/  (docs at /api/docs/)\n"
            f"  health  {url}/api/health/\n"
            f"  broker  {os.environ.get('CELERY_BROKER_URL', 'filesystem (no server)')}\n"
            "Ctrl-C stops everything.\n",
            flush=True,
        )
        return serve()
    finally:
        if embedded:
            from project import embedded_postgres

            embedded_postgres.stop()
            print("embedded PostgreSQL stopped")


if __name__ == "__main__":
    sys.exit(main())
