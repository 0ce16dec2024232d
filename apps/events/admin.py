"""Read-only admin for the bus: the store, saga timelines, outboxes, subscribers, parked.

Outbox, checkpoint and parked-message models belong to every module; they are
found by type (`records`) and shown here, each read from its own module's database.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from apps.events.models import MessageTypeStats, StoredEvent
from apps.events.public import subscribers
from apps.events.public.records import checkpoint_models, outbox_models, parked_models
from apps.events.selectors import saga_timeline, store_head, subscriber_waiting
from apps.events.services import parked_retry
from project.admin import ReadOnlyAdmin


def _pretty(payload: object) -> str:
    return format_html("<pre>{}</pre>", json.dumps(payload, indent=2, sort_keys=True))


@admin.register(StoredEvent)
class StoredEventAdmin(ReadOnlyAdmin):
    list_display = (
        "position",
        "type",
        "version",
        "source",
        "aggregate_id",
        "correlation_id",
        "occurred_at",
    )
    list_filter = ("type", "source")
    search_fields = ("=aggregate_id", "=correlation_id", "=message_id")
    search_help_text = "An aggregate id, correlation id or message id, exactly."
    ordering = ("-position",)
    show_full_result_count = False
    fields = (
        "position", "message_id", "type", "version", "source", "occurred_at", "recorded_at",
        "aggregate_id", "correlation_id", "causation_id", "payload_pretty", "timeline",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="payload")
    def payload_pretty(self, obj: StoredEvent) -> str:
        return _pretty(obj.payload)

    @admin.display(description="saga timeline (same correlation id)")
    def timeline(self, obj: StoredEvent) -> str:
        rows = format_html_join(
            "",
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    mark_safe(' style="font-weight:bold"') if e.position == obj.position else "",
                    e.position,
                    e.occurred_at.isoformat(timespec="milliseconds"),
                    e.source,
                    e.type,
                    e.aggregate_id,
                )
                for e in saga_timeline(correlation_id=obj.correlation_id)
            ),
        )
        header = format_html_join(
            "",
            "<th>{}</th>",
            ((h,) for h in ("position", "occurred", "source", "type", "aggregate")),
        )
        return format_html("<table><tr>{}</tr>{}</table>", header, rows)


@admin.register(MessageTypeStats)
class MessageTypeStatsAdmin(ReadOnlyAdmin):
    list_display = ("type", "count", "last_position", "last_occurred_at")


class OutboxAdmin(ReadOnlyAdmin):
    list_display = ("id", "type", "aggregate_id", "correlation_id", "occurred_at", "relayed_at")
    list_filter = ("type",)
    search_fields = ("=aggregate_id", "=correlation_id")


class CheckpointAdmin(ReadOnlyAdmin):
    list_display = (
        "subscriber",
        "position",
        "lag",
        "waiting",
        "attempts",
        "failing_position",
        "next_attempt_at",
        "last_error",
    )

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):  # noqa: ANN201
        self._head = store_head()
        return super().changelist_view(request, extra_context)

    @admin.display(description="lag")
    def lag(self, obj: Model) -> int:
        return max(getattr(self, "_head", 0) - obj.position, 0)  # type: ignore[attr-defined]

    @admin.display(description="waiting")
    def waiting(self, obj: Model) -> int | str:
        try:
            subscriber = subscribers.get(obj.subscriber)  # type: ignore[attr-defined]
        except KeyError:
            return "-"  # a subscriber this code does not declare (retired, or newer code's)
        return subscriber_waiting(subscriber, position=obj.position)  # type: ignore[attr-defined]


class ParkedAdmin(ReadOnlyAdmin):
    list_display = ("subscriber", "position", "type", "attempts", "parked_at", "error")
    list_filter = ("subscriber", "type")
    actions = ("retry",)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # The retry action needs it; the form itself stays read-only.
        return obj is None and admin.ModelAdmin.has_change_permission(self, request, obj)

    @admin.action(description="Retry the selected parked messages", permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet) -> None:
        report = parked_retry(module=queryset.db, ids=list(queryset.values_list("pk", flat=True)))
        level = messages.SUCCESS if not report.failed else messages.WARNING
        self.message_user(
            request, f"applied {report.applied}, still failing {report.failed}", level
        )


for _models, _admin in (
    (outbox_models(), OutboxAdmin),
    (checkpoint_models(), CheckpointAdmin),
    (parked_models(), ParkedAdmin),
):
    for _model in _models.values():
        if not admin.site.is_registered(_model):
            admin.site.register(_model, _admin)
