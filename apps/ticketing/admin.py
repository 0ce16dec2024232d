"""Admin of the ticketing module: the catalogue is edited here; seats are only read
(they change through the booking saga), with a seat map per performance."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from apps.ticketing.models import (
    BookingHold,
    Performance,
    SeatAllocation,
    Section,
    SectionPrice,
    Show,
    Ticket,
    Venue,
)
from apps.ticketing.selectors import performance_seat_map
from project.admin import ReadOnlyAdmin


class SectionInline(admin.TabularInline):
    model = Section
    fields = ("name", "rows", "seats_per_row")
    extra = 1


@admin.register(Venue)
class VenueAdmin(admin.ModelAdmin):
    list_display = ("name", "city")
    search_fields = ("name", "city")
    inlines = [SectionInline]


@admin.register(Show)
class ShowAdmin(admin.ModelAdmin):
    list_display = ("title",)
    search_fields = ("title",)


class SectionPriceInline(admin.TabularInline):
    model = SectionPrice
    fields = ("section", "price")
    extra = 0


@admin.register(Performance)
class PerformanceAdmin(admin.ModelAdmin):
    list_display = ("show", "venue", "starts_at")
    list_filter = ("venue", "show")
    date_hierarchy = "starts_at"
    search_fields = ("show__title", "venue__name")
    inlines = [SectionPriceInline]
    readonly_fields = ("seat_map",)

    @admin.display(description="seat map (· free, H held, S sold)")
    def seat_map(self, performance: Performance) -> str:
        if performance.pk is None:
            return "-"
        sections = format_html_join(
            "",
            "<p><strong>{}</strong></p><pre>{}</pre>",
            (
                (name, "\n".join(" ".join(row) for row in rows))
                for name, rows in performance_seat_map(performance_id=performance.pk).items()
            ),
        )
        return format_html("{}", sections)


@admin.register(SeatAllocation)
class SeatAllocationAdmin(ReadOnlyAdmin):
    list_display = ("performance", "section", "row", "number", "status", "booking_id", "price")
    list_filter = ("status", "performance")
    search_fields = ("=booking_id",)


@admin.register(BookingHold)
class BookingHoldAdmin(ReadOnlyAdmin):
    list_display = ("booking_id", "performance", "state", "hold_expires_at", "updated_at")
    list_filter = ("state",)
    search_fields = ("=booking_id",)


@admin.register(Ticket)
class TicketAdmin(ReadOnlyAdmin):
    list_display = ("code", "performance", "section", "row", "number", "price", "voided_at")
    list_filter = ("performance",)
    search_fields = ("code", "=booking_id")
