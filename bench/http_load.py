"""HTTP load on the real process model: `POST /api/orders/` under wrk, K connections.

    .venv/bin/python bench/http_load.py [--connections 8 32 128] [--duration 20 --warmup 3]
    .venv/bin/python bench/http_load.py --smoke        # 1 s warm-up + 2 s per K, under a minute

A fresh database (`bench_httpload`) gets C customers with ample credit (every
order is approved) and a staff user with a DRF token, as `place_order.py --via
http` does. Then `manage.py serve` runs on it as in production: supervisord,
gunicorn gthread (BOXOFFICE_WEB_WORKERS x BOXOFFICE_WEB_THREADS), the Celery
workers of BOXOFFICE_WORKERS and beat, with `project.settings` and
DJANGO_DEBUG=false (the harness's production-like settings; the load sends no
X-Forwarded-Proto, which `settings_production` would redirect without).

For each K the load is the shared peer comparison's driver
(`../shared/peer/bare_drf/load.py` with `post_order.lua`: wrk, one thread, K
keep-alive connections, closed loop, a body of its own per request, the
standard workload's totals), a warm-up then a measured window, while the
workers decide the orders. Then it waits until no order is PENDING (failing if
none is decided for 60 s) before the next K. One JSON line per K: ok/s, wrk's
p50/p99, errors (socket errors + non-2xx, with the status counts), the orders
written and their decisions (approved, rejected, pending: always 0), how long
the decisions took after the load, and CPU ms per accepted order by process
tree (web, worker, beat, postgres, client, other). Everything it started is
stopped and the database dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from django.db import connections
from django.db.models import Count
from harness import ROOT, bench_database, register_customers, report  # type: ignore[import-not-found]

from apps.orders.models import Order
from project.process_model import ProcessModel
from tests.runtime.supervised import process_model

LOAD_DRIVER = ROOT.parent / "shared" / "peer" / "bare_drf" / "load.py"


def order_states() -> Counter[str]:
    rows = Order.objects.using("orders").values_list("state").annotate(n=Count("id")).order_by()
    return Counter(dict(rows))


def wait_until_decided(*, stall_timeout: float = 60) -> float:
    """Seconds until no order is PENDING; raises if none is decided for `stall_timeout`."""
    started = time.monotonic()
    pending, progress = None, started
    while True:
        now_pending = Order.objects.using("orders").filter(state=Order.State.PENDING).count()
        if not now_pending:
            return time.monotonic() - started
        if pending is None or now_pending < pending:
            pending, progress = now_pending, time.monotonic()
        elif time.monotonic() - progress > stall_timeout:
            raise RuntimeError(f"{pending} orders PENDING, none decided for {stall_timeout:.0f} s")
        time.sleep(0.2)


def run_load(
    args: argparse.Namespace, url: str, setup: Path, trees: dict[str, int], k: int
) -> dict:
    command = [
        sys.executable, str(args.load_driver), "--url", f"{url}/api/orders/",
        "--setup-json", str(setup), "--connections", str(k), "--duration", str(args.duration),
        "--warmup", str(args.warmup), "--label", "serve",  # wrk's timeout: load.py's 30 s
        *(f"--cpu-tree={name}={pid}" for name, pid in trees.items()),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"the load driver failed:\n{result.stdout}{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--duration", type=float, default=20, help="seconds measured per K")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of load before, per K")
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--limit", default="1000000", help="each customer's credit")
    parser.add_argument(
        "--smoke", action="store_true", help="1 s warm-up + 2 s per K, 10 customers"
    )
    parser.add_argument("--database", default="bench_httpload")
    parser.add_argument("--load-driver", type=Path, default=LOAD_DRIVER)
    args = parser.parse_args()
    if args.smoke:
        args.duration, args.warmup, args.customers = 2, 1, 10
    if not args.load_driver.exists() or shutil.which("wrk") is None:
        sys.exit(f"needs wrk and the peer's load driver ({args.load_driver})")

    run_dir = Path(os.environ["BOXOFFICE_RUN_DIR"])  # the harness's: the same filesystem broker
    # The process model's defaults (BOXOFFICE_WEB_WORKERS etc. from the environment),
    # and the production settings' sweeps rather than supervised.py's test ones.
    environment = {
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DJANGO_DEBUG": "false",
        "EVENTS_SWEEP_SECONDS": os.environ.get("EVENTS_SWEEP_SECONDS", "2"),
        "BOOKING_EXPIRY_SWEEP_SECONDS": os.environ.get("BOOKING_EXPIRY_SWEEP_SECONDS", "1"),
    }
    model = ProcessModel.from_environ(os.environ, run_dir=run_dir)
    with bench_database(args.database) as database:
        from django.contrib.auth.models import User
        from rest_framework.authtoken.models import Token

        customers = register_customers(args.customers, args.limit)
        token = Token.objects.create(user=User.objects.create_user("bench", is_staff=True)).key
        setup = run_dir / "setup.json"
        setup.write_text(json.dumps({"token": token, "customers": customers}))
        with process_model(database, run_dir, environment=environment) as served:
            assert served.url is not None, "BOXOFFICE_WEB_WORKERS=0 serves nothing"
            trees = {name: served.pid(name) for name in served.states()}
            for k in args.connections:
                before = order_states()
                load = run_load(args, served.url, setup, trees, k)
                drained_in = wait_until_decided()
                written = order_states() - before
                warm_ok = sum(
                    n for status, n in load.get("warmup", {}).get("status_counts", {}).items()
                    if status.startswith("2")
                )  # fmt: skip
                report(
                    {
                        "benchmark": "http_load",
                        "connections": k,
                        "web": f"{model.web_workers}x{model.web_threads} gthread",
                        "workers": " ".join(f"{g.name}:{g.concurrency}" for g in model.workers),
                        "warmup_s": args.warmup,
                        "duration_s": load["duration_s"],
                        "ok_per_s": load["ok_per_s"],
                        "requests_per_s": load["requests_per_s"],
                        "p50_ms": load["p50_ms"],
                        "p99_ms": load["p99_ms"],
                        "max_ms": load["max_ms"],
                        "errors": load["error_count"],
                        "socket_errors": load["errors"],
                        "status_counts": load["status_counts"],
                        "first_error_body": load.get("first_error_body", ""),
                        # warm-up's and measured window's 202s; a request wrk cut off
                        # at its window's end may have been written too.
                        "accepted": warm_ok + load["ok"],
                        "orders_written": sum(written.values()),
                        "approved": written[Order.State.APPROVED],
                        "rejected": written[Order.State.REJECTED],
                        "pending": written[Order.State.PENDING],
                        "decided_after_load_s": round(drained_in, 1),
                        "cpu_ms_per_ok_request": load.get("cpu_ms_per_ok_request"),
                    }
                )
        connections.close_all()


if __name__ == "__main__":
    main()
