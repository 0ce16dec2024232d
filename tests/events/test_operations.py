"""What operators see: events_status, health, the admin, correlation ids over HTTP."""

from __future__ import annotations

import io
import uuid

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction
from django.test import Client

from apps.events.models import StoredEvent
from apps.events.public import publish
from apps.events.public.context import CORRELATION_HEADER
from apps.events.public.records import parked_models
from apps.events.selectors import store_find
from apps.events.services import outbox_relay, subscriber_deliver
from apps.events.testing import drain, wait_for
from tests.events import probe
from tests.events.probe import MODULE, ProbePinged

ALL = "__all__"


def ping(key: str) -> None:
    with transaction.atomic(using=MODULE):
        publish(ProbePinged(key=key), source=MODULE)


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "pw"))
    return client


@pytest.mark.django_db(databases=ALL)
def test_events_status_shows_backlog_lag_and_parked(fast_retries: None) -> None:
    ping("waiting")
    out = io.StringIO()
    call_command("events_status", stdout=out)
    text = out.getvalue()
    assert "event store head" in text
    assert "customers" in text
    assert "tests.probe" in text
    assert "events.type_stats" in text

    probe.FAILING.add("bad")
    ping("bad")
    outbox_relay(module=MODULE)
    for _ in range(3):
        subscriber_deliver(name="tests.probe")
    out = io.StringIO()
    call_command("events_status", stdout=out)
    assert "parked messages: 1" in out.getvalue()


@pytest.mark.django_db(databases=ALL)
def test_relay_outbox_once_moves_and_delivers(capsys: pytest.CaptureFixture) -> None:
    ping("cmd")
    call_command("relay_outbox", "--once")
    assert "relayed 1" in capsys.readouterr().out
    assert len(probe.effects("cmd")) == 1


@pytest.mark.django_db(databases=ALL)
def test_health_fails_on_an_outbox_nobody_relays(settings) -> None:
    settings.EVENTS_OUTBOX_MAX_AGE_SECONDS = 0
    ping("stuck")
    response = Client().get("/api/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["outbox"]
    assert "customers" in body["checks"]["outbox"]["detail"]
    drain()
    assert Client().get("/api/health/").status_code == 200


@pytest.mark.urls("tests.events.urls")
@pytest.mark.django_db(databases=ALL)
def test_a_request_gives_its_correlation_id_to_what_it_publishes() -> None:
    correlation = uuid.uuid4()
    response = Client().post(
        "/api/probe/pings/",
        {"key": "from-request"},
        content_type="application/json",
        headers={CORRELATION_HEADER: str(correlation)},
    )
    assert response.status_code == 202
    assert response[CORRELATION_HEADER] == str(correlation)
    drain()
    envelope = wait_for("customers.ProbePinged", lambda e: e.aggregate_id == "from-request")
    assert envelope.correlation_id == correlation
    assert str(envelope.message_id) == response.json()["message_id"]


@pytest.mark.urls("tests.events.urls")
@pytest.mark.django_db(databases=ALL)
def test_a_request_without_a_correlation_id_gets_a_fresh_one() -> None:
    first = Client().post("/api/probe/pings/", {"key": "a"}, content_type="application/json")
    second = Client().post("/api/probe/pings/", {"key": "b"}, content_type="application/json")
    ids = {first[CORRELATION_HEADER], second[CORRELATION_HEADER]}
    assert len(ids) == 2
    drain()
    stored = {str(e.correlation_id) for e in store_find(message_type="customers.ProbePinged")}
    assert stored == ids


@pytest.mark.django_db(databases=ALL)
def test_the_admin_shows_the_store_and_a_saga_timeline(staff_client: Client) -> None:
    probe_key = "admin"
    with transaction.atomic(using=MODULE):
        publish(ProbePinged(key=probe_key, echo=True), source=MODULE)
    drain()
    pinged = store_find(message_type="customers.ProbePinged")[0]

    listing = staff_client.get("/admin/events/storedevent/", {"q": str(pinged.correlation_id)})
    assert listing.status_code == 200
    assert b"customers.ProbeEchoed" in listing.content

    detail = staff_client.get(f"/admin/events/storedevent/{pinged.position}/change/")
    assert detail.status_code == 200
    html = detail.content.decode()
    assert "Saga timeline" in html
    assert "customers.ProbePinged" in html
    assert "customers.ProbeEchoed" in html
    assert StoredEvent.objects.count() == 2


@pytest.mark.django_db(databases=ALL)
def test_the_admin_lists_outboxes_checkpoints_and_retries_parked(
    staff_client: Client, fast_retries: None
) -> None:
    for page in (
        "/admin/customers/outbox/",
        "/admin/customers/checkpoint/",
        "/admin/customers/parked/",
        "/admin/events/messagetypestats/",
    ):
        assert staff_client.get(page).status_code == 200, page

    probe.FAILING.add("retry-me")
    ping("retry-me")
    outbox_relay(module=MODULE)
    for _ in range(3):
        subscriber_deliver(name="tests.probe")
    checkpoints = staff_client.get("/admin/customers/checkpoint/").content
    assert b"waiting" in checkpoints
    assert b"tests.probe" in checkpoints
    parked = parked_models()[MODULE].objects.using(MODULE).get()
    probe.FAILING.clear()

    response = staff_client.post(
        "/admin/customers/parked/",
        {"action": "retry", "_selected_action": [parked.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == ["applied 1, still failing 0"]
    assert not parked_models()[MODULE].objects.using(MODULE).exists()
    assert len(probe.effects("retry-me")) == 1


@pytest.mark.django_db(databases=ALL)
def test_staff_without_the_permission_cannot_see_or_retry_parked_messages() -> None:
    clerk = User.objects.create_user("clerk", password="pw", is_staff=True)
    client = Client()
    client.force_login(clerk)
    assert client.get("/admin/customers/parked/").status_code == 403
    assert client.post("/admin/customers/parked/", {"action": "retry"}).status_code == 403


@pytest.mark.django_db(databases=ALL)
def test_a_subscriber_waits_only_for_what_it_reads() -> None:
    """Its lag counts every store position past its checkpoint; `waiting` only
    the messages it reads, its real backlog: a subscriber of few types shows
    lag and nothing waiting once the rest of the store moved on."""
    from apps.events.public import subscribers
    from apps.events.selectors import store_head, subscriber_status
    from tests.events.probe import ProbeMeasured

    probe_subscriber = subscribers.get("tests.probe")

    def lag_and_waiting() -> tuple[int, int]:
        status = subscriber_status(probe_subscriber, store_head())
        return status.lag, status.waiting

    # Positions, not messages: rolled-back inserts leave gaps in the sequence.
    outbox_relay(module=MODULE)  # whatever earlier tests left in the outbox
    lag, waiting = lag_and_waiting()
    with transaction.atomic(using=MODULE):
        publish(ProbeMeasured(key="m", value=1.0), source=MODULE)  # not a type it reads
    outbox_relay(module=MODULE)
    lag_after_unread, waiting_after_unread = lag_and_waiting()
    assert lag_after_unread > lag
    assert waiting_after_unread == waiting

    ping("read")
    outbox_relay(module=MODULE)
    lag_after_read, waiting_after_read = lag_and_waiting()
    assert lag_after_read > lag_after_unread
    assert waiting_after_read == waiting + 1

    out = io.StringIO()
    call_command("events_status", stdout=out)
    assert "waiting" in out.getvalue()
