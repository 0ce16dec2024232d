"""SIGTERM stops the process model gracefully: requests in flight are answered,
the worker finishes or hands back what it holds, and nothing is half-done: every
order the database has was answered 202, and each is decided once after the restart."""

from __future__ import annotations

import http.client
import io
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.core.management import call_command

from apps.events.selectors import store_find
from apps.orders.models import Order
from tests.runtime.supervised import process_model, request
from tests.workers import wait_until

ALL = "__all__"
CLIENTS = 8


@pytest.mark.django_db(databases=ALL, transaction=True)
def test_sigterm_mid_request_and_mid_batch_loses_nothing(
    django_db_setup: str, clean_store: None, make_customer, tmp_path: Path
) -> None:
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=User.objects.create_user("boss", is_staff=True)).key
    customer = str(make_customer(limit="1000000.00").id)
    answered: list[str] = []
    refused: list[str] = []
    unexpected: list[str] = []
    stop = threading.Event()
    environment = {"BOXOFFICE_WORKERS": "*:1"}  # one pool process: a backlog builds up

    def place(url: str, n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            line = {"sku": f"TERM-{n}-{i}", "quantity": 1, "unit_price": "1.00"}
            body = {"customer_id": customer, "lines": [line]}
            try:
                status, data, _ = request(url, "POST", "/api/orders/", body, token=token)
            except http.client.HTTPException as exc:  # an answer cut short
                unexpected.append(f"{type(exc).__name__}: {exc}")
                return
            except OSError as exc:  # not let in: the server had stopped listening
                refused.append(f"{type(exc).__name__}: {exc}")
                return
            if status != 202:
                unexpected.append(f"{status} {data}")
                return
            answered.append(data["id"])

    with process_model(django_db_setup, tmp_path, environment=environment) as model:
        url = model.url or ""
        clients = [threading.Thread(target=place, args=(url, n)) for n in range(CLIENTS)]
        for client in clients:
            client.start()
        wait_until(lambda: len(answered) >= 300, timeout=60)
        model.process.send_signal(signal.SIGTERM)  # supervisord stops every program
        model.process.wait(timeout=90)
        stop.set()
        for client in clients:
            client.join(timeout=60)
        assert model.process.returncode == 0
    assert not unexpected, unexpected  # what was answered was a whole answer

    orders = dict(Order.objects.using("orders").values_list("pk", "state"))
    # Nothing half-done on the web side: every order written was answered, and
    # every answer's order was written.
    assert {str(pk) for pk in orders} == set(answered)
    pending = sum(1 for state in orders.values() if state == "PENDING")
    assert pending, "the worker had caught up before it was stopped: nothing was tested"

    started = time.monotonic()
    with process_model(django_db_setup, tmp_path / "again", environment=environment):

        def decided() -> bool:
            return not Order.objects.using("orders").filter(state="PENDING").exists()

        wait_until(decided, timeout=120)
    assert time.monotonic() - started < 150
    states = Counter(Order.objects.using("orders").values_list("state", flat=True))
    assert states == Counter({"APPROVED": len(answered)})
    placed = Counter(str(e.aggregate_id) for e in store_find(message_type="orders.OrderPlaced"))
    approved = Counter(str(e.aggregate_id) for e in store_find(message_type="orders.OrderApproved"))
    assert placed == approved == Counter(dict.fromkeys(answered, 1))
    call_command("audit_consistency", stdout=io.StringIO())
