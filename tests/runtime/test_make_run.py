"""`make run` as a newcomer gets it (the embedded PostgreSQL, the filesystem broker,
the process model) under many clients at once: every request is answered, none
is reset, none is a 500; every accepted order is decided, and 100 bookings for
40 seats confirm exactly 40."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.runtime.supervised import ROOT, alive, free_port, request
from tests.workers import wait_until

PASSWORD = "a-long-enough-admin-password"
ORDERS = 200
BOOKINGS = 100
SEATS = 40  # 4 rows of 10
FINAL_ORDERS = {"APPROVED", "REJECTED"}
FINAL_BOOKINGS = {"CONFIRMED", "REJECTED", "EXPIRED", "CANCELLED"}


@contextlib.contextmanager
def make_run() -> Iterator[str]:
    """`python -m project.launcher` (what `make run` runs) with nothing configured:
    its own embedded PostgreSQL in a folder of its own; Ctrl-C at the end."""
    data = ROOT / ".pgdata-make-run"  # where the server's own user can read it
    run_dir = ROOT / ".run-make-run"
    for folder in (data, run_dir):
        shutil.rmtree(folder, ignore_errors=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith(("DATABASE_URL", "BROKER_URL"))}
    env.update(
        BOXOFFICE_PGDATA=str(data),
        BOXOFFICE_RUN_DIR=str(run_dir),
        BOXOFFICE_PORT=str(port),
        BOXOFFICE_ADMIN_PASSWORD=PASSWORD,
        BOXOFFICE_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="project.settings",
    )
    env.pop("BOXOFFICE_EXPECT_MOVED", None)
    log = (ROOT / ".run-make-run.log").open("wb")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "project.launcher"], cwd=ROOT, env=env,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:

        def serving() -> bool:
            assert launcher.poll() is None, (ROOT / ".run-make-run.log").read_text()[-3000:]
            try:
                return request(url, "GET", "/api/health/", timeout=5)[0] == 200
            except OSError:
                return False

        wait_until(serving, timeout=240)
        wait_until(lambda: len(running_programs(run_dir)) == 3, timeout=60)  # web, worker, beat
        programs = running_programs(run_dir)
        yield url
        os.killpg(launcher.pid, signal.SIGINT)  # Ctrl-C
        assert launcher.wait(timeout=120) == 0
        # Ctrl-C stopped everything it started: the programs, supervisord, the server.
        assert not [pid for pid in programs if alive(pid)]
        status = subprocess.run(
            [sys.executable, "-m", "project.embedded_postgres", "status"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert status.stdout.strip() == "stopped"
    finally:
        if launcher.poll() is None:  # a failure: stop it as Ctrl-C would, then by force
            os.killpg(launcher.pid, signal.SIGINT)
            try:
                launcher.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(launcher.pid, signal.SIGKILL)
                launcher.wait(timeout=30)
        stop_left_over_supervisord(run_dir)
        log.close()
        subprocess.run(
            [sys.executable, "-m", "project.embedded_postgres", "stop"],
            cwd=ROOT, env=env, capture_output=True, check=False,
        )  # fmt: skip
        for folder in (data, run_dir):
            shutil.rmtree(folder, ignore_errors=True)
        (ROOT / ".run-make-run.log").unlink(missing_ok=True)


def stop_left_over_supervisord(run_dir: Path) -> None:
    """A launcher that did not stop its supervisord (it runs in a session of its own):
    stop it, its programs with it, before the server goes away under them."""
    pidfile = run_dir / "supervisord.pid"
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text().strip() or 0)
    if pid and alive(pid):
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not alive(pid), timeout=90)


def running_programs(run_dir: Path) -> list[int]:
    """The pids of the programs `supervisorctl status` shows RUNNING."""
    supervisorctl = Path(sys.executable).with_name("supervisorctl")
    result = subprocess.run(
        [str(supervisorctl), "--configuration", str(run_dir / "supervisord.conf"), "status"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    # web    RUNNING   pid 123, uptime 0:00:05
    return [int(line.split()[3].rstrip(",")) for line in result.stdout.splitlines()
            if line.split()[1:2] == ["RUNNING"]]  # fmt: skip


def all_at_once(calls: list[Callable[[], tuple[int, dict, dict[str, str]]]]) -> list:
    """Run every call in a thread of its own, released together; each result or error."""
    results: list = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except OSError as exc:  # a reset, a refused connection: what must not happen
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return results


def check_answers(results: list, created: int) -> list[dict]:
    """Every request answered: `created` or a 503 problem with Retry-After; no 500."""
    errors = [r for r in results if isinstance(r, Exception) or r is None]
    assert not errors, errors[:5]
    statuses = Counter(status for status, _, _ in results)
    assert set(statuses) <= {created, 503}, statuses
    for status, _, headers in results:
        if status == 503:
            assert headers["content-type"] == "application/problem+json"
            assert int(headers["retry-after"]) > 0
    return [body for status, body, _ in results if status == created]


def test_make_run_answers_200_orders_and_100_bookings_at_once_without_a_reset_or_500() -> None:
    with make_run() as url:
        _, login, _ = request(
            url, "POST", "/api/auth/token/", {"username": "admin", "password": PASSWORD}
        )
        token = login["token"]

        def api(method: str, path: str, body: dict | None = None) -> dict:
            status, data, _ = request(url, method, path, body, token=token)
            assert 200 <= status < 300, (method, path, status, data)
            return data

        customer = api(
            "POST", "/api/customers/",
            {"name": "Many", "email": "many@example.com", "region": "EU",
             "credit_limit": "100000.00"},
        )["id"]  # fmt: skip

        def place(n: int) -> Callable[[], tuple[int, dict, dict[str, str]]]:
            line = {"sku": f"AT-ONCE-{n}", "quantity": 1, "unit_price": "1.00"}
            body = {"customer_id": customer, "lines": [line]}
            return lambda: request(url, "POST", "/api/orders/", body, token=token, timeout=120)

        accepted = check_answers(all_at_once([place(n) for n in range(ORDERS)]), 202)
        assert accepted, "no order was accepted"

        def orders_decided() -> bool:
            return all(api("GET", f"/api/orders/{o['id']}/")["state"] in FINAL_ORDERS
                       for o in accepted)  # fmt: skip

        wait_until(orders_decided, timeout=180)

        venue = api(
            "POST", "/api/venues/",
            {"name": "Small", "city": "Leeds",
             "sections": [{"name": "Stalls", "rows": 4, "seats_per_row": 10}]},
        )  # fmt: skip
        show = api("POST", "/api/shows/", {"title": "Crowded"})
        starts = (datetime.now(UTC) + timedelta(days=7)).isoformat()
        performance = api(
            "POST", "/api/performances/",
            {"show_id": show["id"], "venue_id": venue["id"], "starts_at": starts,
             "prices": [{"section": "Stalls", "price": "10.00"}]},
        )["id"]  # fmt: skip

        def book(n: int) -> Callable[[], tuple[int, dict, dict[str, str]]]:
            body = {
                "customer_id": customer,
                "performance_id": performance,
                "seats": [{"section": "Stalls", "quantity": 1}],
            }
            return lambda: request(url, "POST", "/api/bookings/", body, token=token, timeout=120)

        requested = check_answers(all_at_once([book(n) for n in range(BOOKINGS)]), 202)
        assert len(requested) >= SEATS, "too few bookings accepted to fill the seats"

        def bookings() -> Counter[str]:
            return Counter(api("GET", f"/api/bookings/{b['id']}/")["state"] for b in requested)

        wait_until(lambda: set(bookings()) <= FINAL_BOOKINGS, timeout=240)
        assert bookings()["CONFIRMED"] == SEATS, bookings()
