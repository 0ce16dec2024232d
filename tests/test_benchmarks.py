"""The benchmarks keep running (on tiny inputs); their figures are in docs/benchmarks.md."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.servers import free_port

BENCH = Path(__file__).resolve().parent.parent / "bench"


def run_bench(*args: str) -> dict:
    return run_bench_lines(*args)[-1]


def run_bench_lines(*args: str) -> list[dict]:
    result = subprocess.run(
        [sys.executable, *args],
        cwd=BENCH,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")] or [json.loads(lines[-1])]


@pytest.mark.parametrize("mode", [[], ["--pipelined"]], ids=["sequential", "pipelined"])
def test_the_relay_benchmark_runs(mode: list[str]) -> None:
    figures = run_bench("relay.py", "--messages", "600", "--batch-size", "250", *mode)
    assert figures["messages"] == 600
    assert figures["messages_per_s"] > 0


def test_the_replay_benchmark_runs() -> None:
    figures = run_bench("replay.py", "--events", "1200", "--batch-size", "500")
    assert figures["events"] == 1200
    assert figures["events_per_s"] > 0


@pytest.mark.parametrize("warmth", [[], ["--cold"]], ids=["warmed", "cold"])
def test_the_place_order_benchmark_runs(warmth: list[str]) -> None:
    figures = run_bench(
        "place_order.py", "--orders", "20", "--customers", "4", "--limit", "30", *warmth
    )
    # Customer 0 gets orders 0, 4, ..., 16 (totals 1, 77, 53, 29, 5): 1 and 29
    # fit its 30; customers 1-3 fit one order each (20; 15; 10).
    assert (figures["approved"], figures["rejected"]) == (5, 15)
    assert figures["p99_ms"] >= figures["p50_ms"] > 0
    assert figures["warm_up"] == (not warmth)


def test_the_place_order_benchmark_runs_over_http() -> None:
    figures = run_bench(
        "place_order.py", "--via", "http", "--orders", "20", "--customers", "4", "--limit", "30",
        "--port", str(free_port()),
    )  # fmt: skip
    assert (figures["via"], figures["approved"], figures["rejected"]) == ("http", 5, 15)
    assert figures["cpu_ms_per_order"]["server"] > 0  # gunicorn's 20 requests, counted apart


def test_the_standard_workload_approves_1663_of_2000() -> None:
    workload = _bench_module("workload")
    assert workload.expected_decisions(customers=100, orders=2000, limit=Decimal(1000)) == (
        1663, 337,
    )  # fmt: skip
    assert workload.expected_decisions(customers=4, orders=20, limit=Decimal(30)) == (5, 15)


def _bench_module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_book_seats_benchmark_runs() -> None:
    figures = run_bench("book_seats.py", "--bookings", "12", "--customers", "3")
    assert figures["confirmed"] == 12
    assert figures["p99_ms"] >= figures["p50_ms"] > 0


def test_the_place_order_benchmark_times_placements_alone() -> None:
    # 100 placements: CPU is read in clock ticks (10 ms), and the warmed client
    # spends well under a tick on 20.
    figures = run_bench("place_order.py", "--orders", "100", "--customers", "4", "--place-only")
    assert figures["place_only"] is True
    assert figures["placing_per_s"] > 0
    assert figures["cpu_ms_per_order"]["client"] > 0


def test_the_saga_steps_benchmark_runs() -> None:
    figures = run_bench(
        "saga_steps.py", "--orders", "20", "--customers", "4", "--limit", "30", "--batch", "5"
    )
    assert figures["orders"] == 20
    steps = figures["cpu_us_per_order"]
    assert {"place", "relay", "deliver:customers", "deliver:orders"} <= set(steps)
    assert all(spent > 0 for spent in steps.values())
    # PostgreSQL's CPU is read in clock ticks (10 ms): a tiny run may read none, but
    # it reports the figure.
    assert type(figures["postgres_us_per_order"]) in (int, float)


def test_the_credit_checks_benchmark_runs() -> None:
    figures = run_bench(
        "credit_checks.py", "--customers", "4", "--history", "30", "--batches", "3", "--batch", "5"
    )
    assert figures["requests"] == 15
    assert figures["wall_us_per_request"] > 0
    # PostgreSQL's CPU is read in clock ticks (10 ms): a tiny run may read none, but
    # it reports the figure.
    assert type(figures["postgres_us_per_request"]) in (int, float)
