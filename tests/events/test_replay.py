"""Guarantee 6: a read model rebuilt from the store equals the one built live."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.db import connections, transaction

from apps.events import services
from apps.events.models import MessageTypeStats
from apps.events.public import publish
from apps.events.testing import drain
from tests.events import probe
from tests.events.probe import MODULE, ProbePinged

ALL = "__all__"


def publish_pings(count: int, *, prefix: str = "k") -> None:
    with transaction.atomic(using=MODULE):
        for i in range(count):
            publish(ProbePinged(key=f"{prefix}{i % 7}", note=f"note {i}"), source=MODULE)


def replay(*args: str) -> str:
    out = io.StringIO()
    call_command("replay_events", *args, stdout=out)
    return out.getvalue()


def type_stats() -> list[tuple]:
    return list(
        MessageTypeStats.objects.using("events").values_list("type", "count", "last_position")
    )


@pytest.mark.django_db(databases=ALL)
def test_a_rebuilt_projection_equals_the_live_one_row_by_row() -> None:
    publish_pings(40)
    drain()
    stale = probe.projection_rows()  # Zulip's check: stale state + new events == fresh read
    publish_pings(30, prefix="later")
    drain()
    live = probe.projection_rows()
    assert live != stale
    assert len(live) == 14

    output = replay("--subscriber", "tests.probe_projection", "--rebuild")

    assert probe.projection_rows() == live
    assert "events/s" in output
    assert "applied 70 events" in output


@pytest.mark.django_db(databases=ALL)
def test_the_type_statistics_projection_rebuilds_to_the_same_counts() -> None:
    publish_pings(25)
    drain()
    live = type_stats()
    assert ("customers.ProbePinged", 25, live[0][2]) in live
    replay("--subscriber", "events.type_stats", "--rebuild")
    assert type_stats() == live


@pytest.mark.django_db(databases=ALL)
def test_replay_all_rebuilds_every_projection_and_skips_publishers() -> None:
    publish_pings(5)
    drain()
    live = (probe.projection_rows(), type_stats())
    output = replay("--all", "--rebuild")
    assert "skipping tests.probe: it publishes messages" in output
    assert (probe.projection_rows(), type_stats()) == live


@pytest.mark.django_db(databases=ALL)
def test_replaying_a_subscriber_that_publishes_is_refused() -> None:
    publish_pings(2)
    drain()
    before = probe.effects()
    with pytest.raises(CommandError, match="publishes"):
        replay("--subscriber", "tests.probe", "--rebuild")
    with pytest.raises(services.ReplayRefused, match="send them again"):
        services.subscriber_rewind(name="tests.probe", rebuild=False)
    assert probe.effects() == before


@pytest.mark.django_db(databases=ALL)
def test_an_unknown_subscriber_is_a_clear_error() -> None:
    with pytest.raises(CommandError, match="no subscriber 'nope'"):
        replay("--subscriber", "nope")


@pytest.mark.django_db(databases=ALL)
def test_a_dry_run_says_what_it_would_do_and_changes_nothing() -> None:
    publish_pings(6)
    drain()
    live = probe.projection_rows()
    output = replay("--subscriber", "tests.probe_projection", "--rebuild", "--dry-run")
    assert "would rebuild tests.probe_projection (customers) from position 1: 6 events" in output
    assert probe.projection_rows() == live


@pytest.mark.django_db(databases=ALL)
def test_replay_from_a_position_applies_only_what_follows() -> None:
    publish_pings(3, prefix="a")
    drain()
    first_rows = probe.projection_rows()
    start = max(row[3] for row in first_rows) + 1
    publish_pings(2, prefix="b")
    drain()
    replay("--subscriber", "tests.probe_projection", "--rebuild", "--from-position", str(start))
    assert [row[0] for row in probe.projection_rows()] == ["b0", "b1"]


@pytest.mark.django_db(databases=ALL)
def test_old_versions_in_the_store_replay_through_the_upcaster() -> None:
    # A v1 message, as an older release stored it: `text`, not `note`.
    with connections["events"].cursor() as cursor:
        cursor.execute(
            "INSERT INTO stored_event (message_id, type, version, source, occurred_at,"
            " aggregate_id, correlation_id, payload) VALUES (%s, 'customers.ProbePinged', 1,"
            " 'customers', now(), 'old', %s, %s)",
            [uuid.uuid4(), uuid.uuid4(), '{"key": "old", "text": "written by v1"}'],
        )
    replay("--subscriber", "tests.probe_projection", "--rebuild")
    assert probe.projection_rows() == [("old", 1, "written by v1", probe.projection_rows()[0][3])]
