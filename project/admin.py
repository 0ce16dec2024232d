"""Admin pieces every module's admin may use."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from apps.events.public.queries import saga_of


class ReadOnlyAdmin(admin.ModelAdmin):
    """For rows that change only through services and messages: shown, never edited."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def saga_timeline_html(aggregate_id: str, with_aggregates: Iterable[str] = ()) -> str:
    """The sagas an object took part in (`saga_of`), as a table of position,
    time and type."""
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (e.position, e.occurred_at.isoformat(timespec="milliseconds"), e.type)
            for e in saga_of(aggregate_id=aggregate_id, with_aggregates=with_aggregates)
        ),
    )
    return format_html("<table>{}</table>", rows) if rows else "not relayed yet"
