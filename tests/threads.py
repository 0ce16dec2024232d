"""Run test code in several threads at once, each with its own database connections."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connections


def in_threads(targets: list[Callable[[], object]]) -> None:
    """Start every target at the same moment (a barrier) and re-raise what failed."""
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def run(target: Callable[[], object]) -> None:
        try:
            barrier.wait()
            target()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[:3]
