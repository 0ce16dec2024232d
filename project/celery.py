"""The Celery app. Workers and beat run with `celery -A project worker|beat`."""

import os

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
# request, only those that failed or outlived CONN_MAX_AGE.
app.conf.CELERY_DB_REUSE_MAX = 1_000_000


@signals.task_prerun.connect
@signals.task_postrun.connect
def _close_failed_or_old_connections(**_: object) -> None:
    from django.db import close_old_connections

    close_old_connections()
