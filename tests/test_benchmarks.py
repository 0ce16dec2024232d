"""The benchmarks keep running (on tiny inputs); their figures are in docs/benchmarks.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def run_bench(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, *args],
        cwd=BENCH,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


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
    assert figures["approved"] + figures["rejected"] == 20
    assert figures["p99_ms"] >= figures["p50_ms"] > 0
    assert figures["warm_up"] == (not warmth)


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
    assert figures["postgres_us_per_order"] >= 0  # in clock ticks: a tiny run may read none


def test_the_credit_checks_benchmark_runs() -> None:
    figures = run_bench(
        "credit_checks.py", "--customers", "4", "--history", "30", "--batches", "3", "--batch", "5"
    )
    assert figures["requests"] == 15
    assert figures["wall_us_per_request"] > 0
    # PostgreSQL's CPU is read in clock ticks (10 ms): a tiny run may read none.
    assert figures["postgres_us_per_request"] >= 0
