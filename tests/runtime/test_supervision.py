"""The process model survives its processes' deaths: under a steady flow of orders over
HTTP, each kind of process is killed with SIGKILL in turn and is back within 10 s,
while the API goes on answering and every order ends decided exactly once.

In the split pass (`tests/split_run.py`) `orders` runs on a host of its own: a
second process model with only an `orders` worker, which is killed too.
"""

from __future__ import annotations

import http.client
import io
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import call_command

from apps.events.selectors import store_find
from apps.orders.models import Order
from project.process_model import QUEUES
from tests.runtime.supervised import Supervised, alive, children, process_model, request
from tests.workers import moved_modules, wait_until, worker_process

ALL = "__all__"
BACK_WITHIN_SECONDS = 10
CONCURRENCY = 2  # the worker's pool processes
WEB_WORKERS = 2
RESEND_FOR_SECONDS = 15  # past the master's restart (10 s at most)


class OrderFlow:
    """Places orders back to back from two threads; records every answer and when."""

    def __init__(self, url: str, token: str, customers: list[str]) -> None:
        self.url, self.token, self.customers = url, token, customers
        self.accepted: list[str] = []
        self.failures: list[tuple[float, str]] = []
        self.answered = 0
        self.resent = 0
        self.slowest = 0.0  # seconds, of an answered request
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(2)]

    def __enter__(self) -> OrderFlow:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self, n: int) -> None:
        i = 0
        while not self._stop.is_set():
            i += 1
            body = {
                "customer_id": self.customers[(n + i) % len(self.customers)],
                "lines": [{"sku": f"RUN-{n}-{i}", "quantity": 1, "unit_price": "1.00"}],
            }
            # A request in flight on a process that is killed gets no answer; the
            # client sends it again under the same Idempotency-Key, as a real one would.
            key = str(uuid.uuid4())
            first_sent = time.monotonic()
            while True:
                sent = time.monotonic()
                try:
                    status, data, _ = request(
                        self.url, "POST", "/api/orders/", body, token=self.token,
                        headers={"Idempotency-Key": key},
                    )  # fmt: skip
                except (OSError, http.client.HTTPException) as exc:  # reset, cut short
                    # Sent again for as long as a restart may take: a request
                    # written before its answer was lost must get that answer.
                    if time.monotonic() - first_sent > RESEND_FOR_SECONDS:
                        self.failures.append((time.monotonic(), f"{type(exc).__name__}: {exc}"))
                        break
                    self.resent += 1
                    time.sleep(0.2)
                    continue
                self.slowest = max(self.slowest, time.monotonic() - sent)
                if status == 202:
                    self.accepted.append(data["id"])
                    self.answered += 1
                else:
                    self.failures.append((time.monotonic(), f"{status} {data}"))
                break
            time.sleep(0.02)

    def answered_since(self, count: int) -> bool:
        return self.answered > count


def back(condition: Callable[[], bool], what: str) -> None:
    try:
        wait_until(condition, timeout=BACK_WITHIN_SECONDS)
    except TimeoutError:
        raise AssertionError(f"{what} was not back within {BACK_WITHIN_SECONDS} s") from None


def kill_and_wait(model: Supervised, program: str) -> None:
    """SIGKILL the program's main process; supervisord starts a new one."""
    old = model.pid(program)
    assert old, f"{program} is not running"
    os.kill(old, signal.SIGKILL)

    def replaced() -> bool:
        states = model.states()
        return states.get(program) == "RUNNING" and model.pid(program) != old

    back(replaced, f"{program} (killed, pid {old})")


def kill_a_child_and_wait(model: Supervised, program: str, expected: int) -> None:
    """SIGKILL one of the program's children (a pool process, a gunicorn worker)."""
    # Past its start: a Celery worker whose pool process dies while the pool is
    # still starting gives up (supervisord then starts it again, more slowly).
    wait_until(
        lambda: model.uptime(program) >= 5 and len(children(model.pid(program))) == expected,
        timeout=60,
    )
    victim = children(model.pid(program))[0]
    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:
        parent = model.pid(program)  # the same, unless the program itself was restarted
        now = children(parent) if parent else []
        return len(now) == expected and victim not in now and all(map(alive, now))

    back(replaced, f"a child of {program} (pid {victim})")


@pytest.mark.e2e
@pytest.mark.django_db(databases=ALL, transaction=True)
def test_every_process_killed_in_turn_comes_back_and_every_order_ends_once(
    django_db_setup: str, clean_store: None, make_customer, tmp_path: Path
) -> None:
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=User.objects.create_user("boss", is_staff=True)).key
    customers = [str(make_customer(limit="1000000.00").id) for _ in range(4)]
    moved = moved_modules()
    environment = {
        "BOXOFFICE_WEB_WORKERS": str(WEB_WORKERS),
        "BOXOFFICE_WEB_THREADS": "4",
        # The moved modules' queues are served on their own hosts (below).
        "BOXOFFICE_WORKERS": f"{','.join(q for q in QUEUES if q not in moved)}:{CONCURRENCY}",
    }
    with process_model(django_db_setup, tmp_path / "main", environment=environment) as main:
        # A moved module's worker on a host of its own (none unless a split run).
        moved_queues = ",".join(moved)
        with worker_process(
            django_db_setup, tmp_path, queues=moved_queues, beat=False
        ) as moved_hosts:
            with OrderFlow(main.url or "", token, customers) as flow:
                wait_until(lambda: flow.answered >= 20, timeout=60)
                worker = next(name for name in main.states() if name.startswith("worker"))

                kill_and_wait(main, worker)
                kill_a_child_and_wait(main, worker, CONCURRENCY)
                kill_and_wait(main, "beat")
                kill_a_child_and_wait(main, "web", WEB_WORKERS)
                for host in moved_hosts:  # the moved module's own worker
                    kill_and_wait(host, next(iter(host.states())))
                assert not flow.failures, flow.failures  # so far, every request answered
                # ... at once: only the requests in flight on the killed web worker
                # (one per client at most) had to be sent again, and none waited long.
                assert flow.resent <= 2, flow.resent
                assert flow.slowest < BACK_WITHIN_SECONDS, flow.slowest

                master_killed = time.monotonic()
                kill_and_wait(main, "web")
                back(lambda: len(children(main.pid("web"))) == WEB_WORKERS, "web's workers")
                count = flow.answered
                wait_until(lambda: flow.answered_since(count + 20), timeout=60)
            late = [(t - master_killed, f) for t, f in flow.failures if t - master_killed > 10]
            assert not late, late  # only the master's restart may cost answers, 10 s at most
            assert flow.slowest < BACK_WITHIN_SECONDS, flow.slowest  # none answered late

            def decided() -> bool:
                return not Order.objects.using("orders").filter(state="PENDING").exists()

            wait_until(decided, timeout=120)

    orders = set(flow.accepted)
    assert len(orders) > 100, "too few orders flowed to test anything"
    states = Counter(
        Order.objects.using("orders").filter(pk__in=orders).values_list("state", flat=True)
    )
    assert states == Counter({"APPROVED": len(orders)})
    placed = Counter(str(e.aggregate_id) for e in store_find(message_type="orders.OrderPlaced"))
    approved = Counter(str(e.aggregate_id) for e in store_find(message_type="orders.OrderApproved"))
    assert placed == approved == Counter(dict.fromkeys(orders, 1))  # each once, none doubled
    call_command("audit_consistency", stdout=io.StringIO())
