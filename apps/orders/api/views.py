"""REST endpoints of the orders module. Thin: input, a service or selector, output."""

from __future__ import annotations

import uuid
from decimal import Decimal

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from apps.customers.public.queries import customer_ids_visible_to
from apps.events.public.queries import saga_of
from apps.orders import selectors, services
from apps.orders.models import IdempotencyKey, Order
from project.api.idempotency import idempotent
from project.api.problems import Conflict
from project.api.schema import IDEMPOTENCY_KEY, NOT_THE_USERS_CUSTOMER, problems
from project.api.serializers import MoneyField, SagaMessageOutput


class OrderLineInput(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)
    unit_price = MoneyField(min_value=Decimal("0"))


MAX_TOTAL = Decimal("9999999999.99")


class OrderCreateInput(serializers.Serializer):
    customer_id = serializers.UUIDField()
    lines = serializers.ListField(child=OrderLineInput(), min_length=1, max_length=100)

    def validate_lines(self, lines: list[dict]) -> list[dict]:
        total = sum(line["unit_price"] * line["quantity"] for line in lines)
        if total > MAX_TOTAL:
            raise serializers.ValidationError(f"The order's total may not exceed {MAX_TOTAL}.")
        return lines


class OrderLineOutput(serializers.Serializer):
    sku = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = MoneyField()


class OrderOutput(serializers.Serializer):
    id = serializers.UUIDField()
    customer_id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=Order.State.choices)
    total = MoneyField()
    rejection_reason = serializers.CharField(allow_blank=True)
    lines = OrderLineOutput(many=True)
    created_at = serializers.DateTimeField()


class OrderFilter(django_filters.FilterSet):
    customer_id = django_filters.UUIDFilter()
    state = django_filters.ChoiceFilter(choices=Order.State.choices)

    class Meta:
        model = Order
        fields = ["customer_id", "state"]


PLACE_EXAMPLE = OpenApiExample(
    "Two lines",
    value={
        "customer_id": "6f1c1f3e-3d6a-4a53-9d5c-8f1f7c1f2a10",
        "lines": [
            {"sku": "BOOK-42", "quantity": 1, "unit_price": "10.00"},
            {"sku": "PEN-7", "quantity": 2, "unit_price": "1.17"},
        ],
    },
    request_only=True,
)
PLACED_EXAMPLE = OpenApiExample(
    "Placed, to be decided",
    value={
        "id": "0b7f3c52-8a1e-4b7e-9f0e-2f4c8f6d9a31",
        "customer_id": "6f1c1f3e-3d6a-4a53-9d5c-8f1f7c1f2a10",
        "state": "PENDING",
        "total": "12.34",
        "rejection_reason": "",
        "lines": [
            {"sku": "BOOK-42", "quantity": 1, "unit_price": "10.00"},
            {"sku": "PEN-7", "quantity": 2, "unit_price": "1.17"},
        ],
        "created_at": "2026-12-03T15:20:00.123456Z",
    },
    response_only=True,
    status_codes=["202"],
)


class OrderListCreateView(generics.GenericAPIView):
    serializer_class = OrderOutput
    filterset_class = OrderFilter

    def get_queryset(self):  # noqa: ANN201
        if getattr(self, "swagger_fake_view", False):  # the schema needs no database
            return Order.objects.none()
        return selectors.orders_visible_to(user=self.request.user).order_by("-created_at", "id")

    @extend_schema(operation_id="orders_list", responses=OrderOutput(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(OrderOutput(page, many=True).data)

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        operation_id="orders_create",
        request=OrderCreateInput,
        responses={
            202: OrderOutput,
            **problems(NOT_THE_USERS_CUSTOMER),
        },
        examples=[PLACE_EXAMPLE, PLACED_EXAMPLE],
        description="Places the order PENDING; the credit check decides it (poll the order).",
    )
    def post(self, request: Request) -> Response:
        data = OrderCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        customer_id = data.validated_data["customer_id"]
        if not request.user.is_staff and customer_id not in customer_ids_visible_to(
            user_id=request.user.pk
        ):
            raise NotFound("No such customer.")
        with idempotent(
            request, model=IdempotencyKey, using="orders", body=data.validated_data
        ) as call:
            if call.replayed:
                return call.replayed
            order = services.order_place(
                customer_id=customer_id,
                lines=[services.LineInput(**line) for line in data.validated_data["lines"]],
            )
            body = OrderOutput(_as_placed(order, data.validated_data["lines"])).data
            return call.remember(Response(body, status=status.HTTP_202_ACCEPTED))


def _as_placed(order: Order, lines: list[dict]) -> dict:
    """A placed order as the response shows it: the row as written and the lines
    as validated, not read back (two more queries)."""
    fields = ("id", "customer_id", "state", "total", "rejection_reason", "created_at")
    return {**{name: getattr(order, name) for name in fields}, "lines": lines}


class OrderDetailView(generics.GenericAPIView):
    serializer_class = OrderOutput

    def get_queryset(self):  # noqa: ANN201
        return selectors.orders_visible_to(user=self.request.user)

    @extend_schema(operation_id="orders_retrieve", responses=OrderOutput)
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        return Response(OrderOutput(get_object_or_404(self.get_queryset(), pk=pk)).data)


class OrderCancelView(generics.GenericAPIView):
    serializer_class = OrderOutput
    queryset = Order.objects.none()  # for the schema: {pk} is an order's

    @extend_schema(
        operation_id="orders_cancel",
        request=None,
        responses={
            202: OrderOutput,
            **problems(
                {
                    409: (
                        "The order is final already, or a booking placed it (cancel the booking).",
                        "The order is final already (REJECTED).",
                    )
                }
            ),
        },
        description=(
            "Cancels a PENDING or APPROVED order (its credit is released); 409 if final, or"
            " if a booking placed it (cancel the booking)."
        ),
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        visible = selectors.orders_visible_to(user=request.user)
        get_object_or_404(visible, pk=pk)
        try:
            services.order_cancel(order_id=pk)
        except services.OrderAlreadyFinal as exc:
            raise Conflict(f"The order is final already ({exc}).") from exc
        except services.OrderHasOrigin as exc:
            raise Conflict("This order belongs to a booking: cancel the booking instead.") from exc
        return Response(OrderOutput(visible.get(pk=pk)).data, status=status.HTTP_202_ACCEPTED)


class OrderEventsView(generics.GenericAPIView):
    serializer_class = SagaMessageOutput
    pagination_class = None
    queryset = Order.objects.none()  # for the schema: {pk} is an order's

    @extend_schema(operation_id="orders_events", responses=SagaMessageOutput(many=True))
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        order = get_object_or_404(selectors.orders_visible_to(user=request.user), pk=pk)
        placed_by = [str(order.origin)] if order.origin else []  # the booking, if any
        timeline = saga_of(aggregate_id=str(pk), with_aggregates=placed_by)
        return Response(SagaMessageOutput(timeline, many=True).data)
