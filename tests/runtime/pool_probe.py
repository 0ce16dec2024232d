"""A task that needs nothing but a folder: it takes two milliseconds, then notes
its number in a file. Imported by a worker through CELERY_INCLUDE."""

from __future__ import annotations

import os
import time

from project.celery import app

TASK_SECONDS = 0.002


@app.task(name="tests.pool_probe.note")
def note(number: int) -> None:
    time.sleep(TASK_SECONDS)
    with open(os.environ["POOL_PROBE_LOG"], "a") as log:
        log.write(f"{number}\n")
