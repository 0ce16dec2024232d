"""Admin of the orders module: orders are read here, and cancelled through the service."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from apps.orders import services
from apps.orders.models import Order, OrderLine
from project.admin import saga_timeline_html


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    fields = ("sku", "quantity", "unit_price")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("id", "customer_id", "state", "total", "rejection_reason", "created_at")
    list_filter = ("state", "rejection_reason")
    search_fields = ("=id", "=customer_id", "=origin")
    date_hierarchy = "created_at"
    inlines = [OrderLineInline]
    fields = (
        "id", "customer_id", "state", "total", "currency", "rejection_reason", "origin",
        "created_at", "updated_at", "timeline",
    )  # fmt: skip
    readonly_fields = fields
    actions = ("cancel",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # orders are placed through the API or the booking saga

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.display(description="saga timeline")
    def timeline(self, order: Order) -> str:
        return saga_timeline_html(str(order.pk), [str(order.origin)] if order.origin else [])

    @admin.action(description="Cancel the selected orders", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        cancelled = skipped = 0
        for order_id in queryset.values_list("pk", flat=True):
            try:
                services.order_cancel(order_id=order_id)
                cancelled += 1
            except (services.OrderAlreadyFinal, services.OrderHasOrigin):
                skipped += 1
        self.message_user(
            request,
            f"cancelled {cancelled}; skipped {skipped} (final, or a booking's)",
            messages.SUCCESS,
        )
