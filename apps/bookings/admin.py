"""Admin of the bookings module: bookings with their state and saga timeline; confirmed
ones can be cancelled (through the saga, like the API)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from apps.bookings import services
from apps.bookings.models import Booking
from project.admin import saga_timeline_html


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "customer_id",
        "state",
        "total",
        "reason",
        "hold_expires_at",
        "created_at",
    )
    list_filter = ("state", "reason")
    search_fields = ("=id", "=customer_id", "=order_id", "=performance_id")
    date_hierarchy = "created_at"
    fields = (
        "id", "customer_id", "performance_id", "state", "reason", "seats_requested", "seats",
        "order_id", "total", "tickets", "hold_expires_at", "created_at", "updated_at", "timeline",
    )  # fmt: skip
    readonly_fields = fields
    actions = ("cancel",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # bookings are made through the API

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.display(description="saga timeline")
    def timeline(self, booking: Booking) -> str:
        its_order = [str(booking.order_id)] if booking.order_id else []
        return saga_timeline_html(str(booking.pk), its_order)

    @admin.action(description="Cancel the selected confirmed bookings", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Booking]) -> None:
        cancelled = skipped = 0
        for booking in queryset:
            try:
                services.booking_cancel(booking_id=booking.pk)
                cancelled += 1
            except services.BookingNotCancellable:
                skipped += 1
        self.message_user(request, f"{cancelled} cancelled, {skipped} not confirmed", messages.INFO)
