"""The Celery app. Workers and beat run with `celery -A project worker|beat`."""

import os
import time

from celery import Celery, signals

from project import broker

broker.register()  # `filesystem://`: the safe variant (project/broker.py)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("boxoffice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Celery's Django fix-up closes every database connection before and after each
# task unless told to reuse them: a task then pays a new connection (several ms)
# for each alias it touches. Reuse them, and close, as Django does around a
# request, only those that failed or outlived CONN_MAX_AGE: after a task that
# failed, and otherwise at most once a second, since each such tidy-up makes the
# next use of every alias ask the server whether it is still there (a round
# trip per alias per task, for tasks of a few milliseconds).
app.conf.CELERY_DB_REUSE_MAX = 1_000_000
TIDY_CONNECTIONS_SECONDS = 1.0
_last_tidy = 0.0


_last_task_end = 0.0


@signals.task_prerun.connect
def _tidy_connections_after_idling(**_: object) -> None:
    # After an idle spell a connection may have been dropped (a timeout, a
    # pooler): tidy before the task, as Django does before a request.
    global _last_tidy
    from django.db import close_old_connections

    now = time.monotonic()
    if now - _last_task_end >= TIDY_CONNECTIONS_SECONDS:
        _last_tidy = now
        close_old_connections()


@signals.task_postrun.connect
def _close_failed_or_old_connections(state: str | None = None, **_: object) -> None:
    global _last_tidy, _last_task_end
    from django.db import close_old_connections

    now = _last_task_end = time.monotonic()
    if state == "SUCCESS" and now - _last_tidy < TIDY_CONNECTIONS_SECONDS:
        return
    _last_tidy = now
    close_old_connections()
