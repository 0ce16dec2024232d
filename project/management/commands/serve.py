"""`manage.py serve`: run the process model (project/process_model.py) under supervisord.

    manage.py serve               check the connection budget, then run in the foreground
    manage.py serve --check       print the budget and exit (1 if it does not fit)
    manage.py serve --print-config   print supervisord's configuration

SIGTERM or SIGINT stops every process gracefully (supervisord's own shutdown).
"""

from __future__ import annotations

import os
import shutil
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from project.process_model import (
    ProcessModel,
    ProcessModelError,
    connection_budget,
    describe_budget,
    headroom_from_environ,
    over_budget_advice,
)


class Command(BaseCommand):
    help = "Run the web server, Celery workers and beat under supervisord."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--check", action="store_true", help="print the budget and exit")
        parser.add_argument("--print-config", action="store_true", help="print the config")

    def handle(self, *args, check: bool, print_config: bool, **options) -> None:
        try:
            model = ProcessModel.from_environ(os.environ, run_dir=settings.RUN_DIR)
            headroom = headroom_from_environ(os.environ)
        except ProcessModelError as exc:
            raise CommandError(str(exc)) from exc
        if print_config:
            self.stdout.write(model.supervisord_conf())
            return
        budgets = connection_budget(model, settings.DATABASES, headroom=headroom)
        connections.close_all()  # supervisord's children open their own
        for line in describe_budget(model, budgets):
            self.stdout.write(line)
        over = [budget for budget in budgets if not budget.fits]
        if over:
            raise CommandError("; ".join(over_budget_advice(model, b) for b in over))
        if check:
            return
        model.run_dir.mkdir(parents=True, exist_ok=True)
        conf = model.run_dir / "supervisord.conf"
        conf.write_text(model.supervisord_conf())
        supervisord = shutil.which("supervisord", path=os.path.dirname(sys.executable))
        if supervisord is None:
            raise CommandError("supervisord is not installed (pip install '.[dev]' or '.')")
        self.stdout.flush()
        # supervisord in this process's place: its signals are the run's signals.
        os.execv(supervisord, [supervisord, "--configuration", str(conf)])  # noqa: S606
