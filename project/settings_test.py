"""Settings for the test suite: `project.settings`, with a private run folder.

A private folder keeps the filesystem broker's queue apart from a `make run`
worker on the same checkout, which would otherwise take the tests' tasks.
"""

import tempfile
from pathlib import Path

from project.settings import *  # noqa: F403
from project.settings import CELERY_BEAT_SCHEDULE, CELERY_BROKER_URL, broker_transport_options

RUN_DIR = Path(tempfile.mkdtemp(prefix="boxoffice-test-"))
BROKER_DIR = RUN_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(CELERY_BROKER_URL, BROKER_DIR)
CELERY_BEAT_SCHEDULE_FILENAME = str(RUN_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    name: {**entry, "schedule": 0.5} for name, entry in CELERY_BEAT_SCHEDULE.items()
}
# Tests create many users; the default hasher is slow on purpose.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
