"""The process model as configuration: which programs a topology runs, and the
connection budget `manage.py serve` checks against each server before starting."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from project.process_model import QUEUES, ProcessModel, ProcessModelError, parse_workers
from tests.runtime.supervised import process_model, request
from tests.workers import UNREACHABLE

ALL = "__all__"
RUN = Path("/tmp/boxoffice-run")


def model(**environ: str) -> ProcessModel:
    return ProcessModel.from_environ(environ, run_dir=RUN)


def test_by_default_one_worker_serves_every_queue_beside_the_web_and_one_beat() -> None:
    programs = model().programs()
    assert set(programs) == {"web", "worker", "beat"}
    assert programs["worker"][programs["worker"].index("--queues") + 1] == ",".join(QUEUES)
    web = programs["web"]
    assert web[web.index("--worker-class") + 1] == "gthread"
    assert web[web.index("--workers") + 1] == "2"


def test_a_module_can_have_workers_of_its_own() -> None:
    groups = parse_workers("orders:3 *:2")
    assert [(g.name, g.queues, g.concurrency) for g in groups] == [
        ("worker-orders", ("orders",), 3),
        ("worker-customers-ticketing-bookings-events",
         ("customers", "ticketing", "bookings", "events"), 2),
    ]  # fmt: skip
    assert groups[0].aliases == ("default", "orders", "events")


def test_a_host_that_runs_a_moved_module_runs_its_worker_alone() -> None:
    programs = model(BOXOFFICE_WEB_WORKERS="0", BOXOFFICE_BEAT="0", BOXOFFICE_WORKERS="orders:2")
    assert set(programs.programs()) == {"worker-orders"}
    assert programs.connections_per_alias() == {
        "default": 3, "customers": 0, "orders": 3, "ticketing": 0, "bookings": 0, "events": 3,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("orders", "is not `queues:concurrency`"),
        ("orders:0", "is not `queues:concurrency`"),
        ("shipping:2", "unknown queue shipping"),
        ("orders:1 orders,events:1", "named by two workers"),
        ("*:1 orders:1 *:2", "stands in one worker only"),
    ],
)
def test_a_topology_that_cannot_run_is_refused_with_what_to_write(spec: str, message: str) -> None:
    with pytest.raises(ProcessModelError, match=message):
        parse_workers(spec)


def test_a_topology_with_nothing_to_run_is_refused() -> None:
    with pytest.raises(ProcessModelError, match="nothing to run"):
        model(BOXOFFICE_WEB_WORKERS="0", BOXOFFICE_WORKERS="", BOXOFFICE_BEAT="0")


def test_every_program_is_restarted_when_it_dies_and_stopped_gracefully() -> None:
    conf = model(BOXOFFICE_WORKERS="orders:1 *:1").supervisord_conf()
    programs = conf.count("[program:")
    assert programs == 4  # web, two workers, beat
    for line in ("autorestart=true", "stopsignal=TERM", "stopasgroup=false", "killasgroup=true"):
        assert conf.count(line) == programs, line


def test_the_connections_each_alias_may_need_add_up_every_process() -> None:
    counts = model(BOXOFFICE_WEB_WORKERS="3", BOXOFFICE_WEB_THREADS="5").connections_per_alias()
    # 3 x 5 web threads, and the worker's 2 pool processes and its main process
    assert counts == dict.fromkeys(counts, 15 + 3)


@pytest.mark.django_db(databases="__all__")
def test_serve_prints_the_budget_of_a_topology_that_fits(monkeypatch, capsys) -> None:
    monkeypatch.setenv("BOXOFFICE_WEB_WORKERS", "1")
    call_command("serve", check=True)
    out = capsys.readouterr().out
    assert "max_connections" in out
    assert "TOO MANY" not in out


@pytest.mark.django_db(databases="__all__")
def test_serve_refuses_a_topology_over_max_connections_and_says_what_to_change(
    monkeypatch, capsys
) -> None:
    monkeypatch.setenv("BOXOFFICE_WEB_WORKERS", "40")
    with pytest.raises(CommandError) as refused:
        call_command("serve", check=True)
    assert "TOO MANY" in capsys.readouterr().out
    assert "Lower BOXOFFICE_WEB_WORKERS (each takes 24)" in str(refused.value)
    assert "max_connections" in str(refused.value)


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_a_request_that_cannot_get_a_connection_answers_503_with_retry_after(
    django_db_setup: str, tmp_path: Path
) -> None:
    """The orders database does not answer: placing an order is a 503 problem the client
    may retry, not a 500; what needs no orders database goes on being served."""
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=User.objects.create_user("boss", is_staff=True)).key
    environment = {
        "ORDERS_DATABASE_URL": UNREACHABLE,
        "BOXOFFICE_WEB_WORKERS": "1",
        "BOXOFFICE_WORKERS": "",
        "BOXOFFICE_BEAT": "0",
    }
    with process_model(django_db_setup, tmp_path, environment=environment) as web:
        line = {"sku": "A", "quantity": 1, "unit_price": "1.00"}
        body = {"customer_id": str(uuid.uuid4()), "lines": [line]}
        status, problem, headers = request(web.url or "", "POST", "/api/orders/", body, token=token)
        assert status == 503, problem
        assert headers["content-type"] == "application/problem+json"
        assert problem["code"] == "service_unavailable"
        assert int(headers["retry-after"]) > 0
        assert request(web.url or "", "GET", "/api/customers/", token=token)[0] == 200
        # A probe speaks plain HTTP to the process: no redirect to HTTPS for it.
        assert request(web.url or "", "GET", "/api/health/live/", proxied=False)[0] == 200
        assert request(web.url or "", "GET", "/api/customers/", proxied=False)[0] == 301
    log = (tmp_path / "serve.log").read_text()
    assert "not checked: the server did not answer" in log  # it started all the same
