"""`make run`: set everything up, then serve the web app, a Celery worker and beat.

    python -m project.launcher

With no DATABASE_URL it starts the embedded PostgreSQL and stops it again on
exit; with no CELERY_BROKER_URL the broker is kombu's filesystem transport.
Ctrl-C stops every process it started.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from honcho.manager import Manager

ROOT = Path(__file__).resolve().parent.parent
HOST = os.environ.get("BOXOFFICE_HOST", "127.0.0.1")
PORT = os.environ.get("BOXOFFICE_PORT", "8000")
QUEUES = ("events", "customers", "orders", "ticketing", "bookings")


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


def processes() -> dict[str, str]:
    python = sys.executable
    run_dir = os.environ.get("BOXOFFICE_RUN_DIR", str(ROOT / ".run"))
    return {
        "web": f"{python} manage.py runserver {HOST}:{PORT}",
        "worker": (
            f"{python} -m celery -A project worker --loglevel WARNING --concurrency 2"
            f" --queues {','.join(QUEUES)}"
        ),
        "beat": (
            f"{python} -m celery -A project beat --loglevel WARNING"
            f" --schedule {run_dir}/celerybeat-schedule"
        ),
    }


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
        print(
            f"\nBoxoffice is starting on http://{HOST}:{PORT}/\n"
            f"  admin   http://{HOST}:{PORT}/admin/\n"
            f"  API     http://{HOST}:{PORT}/api/  (docs at /api/docs/)\n"
            f"  health  http://{HOST}:{PORT}/api/health/\n"
            f"  broker  {os.environ.get('CELERY_BROKER_URL', 'filesystem (no server)')}\n"
            "Ctrl-C stops everything.\n",
            flush=True,
        )
        manager = Manager()
        for name, command in processes().items():
            manager.add_process(name, command, cwd=str(ROOT))
        manager.loop()
        # Ctrl-C (130) and SIGTERM (143) are how a run is meant to end.
        return 0 if manager.returncode in (None, 130, 143) else manager.returncode
    finally:
        if embedded:
            from project import embedded_postgres

            embedded_postgres.stop()
            print("embedded PostgreSQL stopped")


if __name__ == "__main__":
    sys.exit(main())
