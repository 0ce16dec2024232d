"""The Celery app. Workers and beat run with `celery -A project worker|beat`."""

import os

from celery import Celery

from project import broker

broker.register()  # `filesystem://`: the safe variant (project/broker.py)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("boxoffice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
