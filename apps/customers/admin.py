"""Admin of the customers module; every change goes through its services."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Model
from django.forms import ModelForm
from django.http import HttpRequest

from apps.customers import services
from apps.customers.models import CreditReservation, Customer, CustomerOrder
from project.admin import ReadOnlyAdmin


class ReservationInline(admin.TabularInline):
    model = CreditReservation
    fields = ("order_id", "amount", "state", "created_at", "released_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class CustomerForm(ModelForm):
    class Meta:
        model = Customer
        fields = ("name", "email", "region", "credit_limit")

    def clean_credit_limit(self) -> Decimal:
        limit = self.cleaned_data["credit_limit"]
        if self.instance.pk is not None:
            # The admin's change view is one transaction on this alias: the row's
            # lock taken here holds through the save, so no reservation lands
            # between this check and customer_update's own.
            reserved = (
                Customer.objects.using("customers")
                .select_for_update()
                .values_list("reserved_credit", flat=True)
                .get(pk=self.instance.pk)
            )
            if limit < reserved:
                raise ValidationError(f"{reserved:.2f} is reserved by open orders.")
        return limit


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    form = CustomerForm
    list_display = ("name", "email", "region", "credit_limit", "available_credit", "created_at")
    list_filter = ("region",)
    search_fields = ("name", "email", "=id")
    inlines = [ReservationInline]

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # customers leave through a service, never a DELETE

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> tuple:
        # Once registered, only the limit and the region change (as events).
        return ("name", "email", "owner_user_id", "reserved_credit") if obj else ()

    @admin.display(description="available credit")
    def available_credit(self, customer: Customer) -> str:
        return f"{customer.available_credit:.2f}"

    def save_model(
        self, request: HttpRequest, obj: Customer, form: ModelForm, change: bool
    ) -> None:
        if change:
            services.customer_update(
                customer_id=obj.pk, region=obj.region, credit_limit=obj.credit_limit
            )
        else:
            created = services.customer_register(
                name=obj.name, email=obj.email, region=obj.region, credit_limit=obj.credit_limit
            )
            obj.pk = created.pk
            obj._state.adding = False
            obj._state.db = "customers"


@admin.register(CustomerOrder)
class CustomerOrderAdmin(ReadOnlyAdmin):
    """The order-history read model, as the customers module sees it."""

    list_display = ("order_id", "customer_id", "state", "total", "placed_at", "updated_at")
    list_filter = ("state",)
    search_fields = ("=customer_id", "=order_id")
