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
from apps.events.selectors import store_head
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
    head = store_head()
    assert ("customers.ProbePinged", 25, head) in live
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
        services.subscriber_rewind(name="tests.probe")
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
def test_a_rebuild_from_a_position_equals_the_live_read_model() -> None:
    publish_pings(3, prefix="a")
    drain()
    start = max(row[0] for row in probe.log_rows()) + 1
    publish_pings(2, prefix="b")
    drain()
    live = probe.log_rows()
    with connections[MODULE].cursor() as cursor:  # damage what the later messages built
        cursor.execute("UPDATE probe_log SET note = 'damaged' WHERE position >= %s", [start])

    output = replay("--subscriber", "tests.probe_log", "--from-position", str(start))

    assert probe.log_rows() == live
    assert "applied 2 events" in output


@pytest.mark.django_db(databases=ALL)
def test_a_projection_that_cannot_undo_part_of_its_history_is_rebuilt_whole_or_not_at_all() -> None:
    publish_pings(4)
    drain()
    live = probe.projection_rows()
    with pytest.raises(CommandError, match="declares no reset_from"):
        replay("--subscriber", "tests.probe_projection", "--from-position", "3")
    assert probe.projection_rows() == live


@pytest.mark.django_db(databases=ALL)
def test_without_rebuild_replay_only_catches_up() -> None:
    publish_pings(3)
    drain()
    live = probe.projection_rows()
    output = replay("--subscriber", "tests.probe_projection")
    assert "catching up from its checkpoint" in output
    assert probe.projection_rows() == live  # nothing applied twice


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
    assert probe.projection_rows() == [("old", 1, "written by v1", store_head())]
