"""REST endpoints of the customers module. Thin: input, a service or selector, output."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import cast

import django_filters
from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from apps.customers import selectors, services
from apps.customers.models import Customer, IdempotencyKey
from project.api.idempotency import idempotent
from project.api.permissions import StaffWritesOthersRead
from project.api.schema import IDEMPOTENCY_KEY, problems
from project.api.serializers import MoneyField


class CustomerOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    email = serializers.EmailField()
    region = serializers.CharField()
    credit_limit = MoneyField()
    available_credit = MoneyField(read_only=True, help_text="The limit less what is reserved.")


class CustomerCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField(max_length=254)
    region = serializers.RegexField(r"^[A-Z][A-Z0-9_-]{0,31}$", help_text="e.g. EU, US, APAC")
    credit_limit = MoneyField(min_value=Decimal("0"))
    username = serializers.CharField(
        required=False, help_text="An existing user, who then owns this customer."
    )

    def validate_username(self, username: str) -> object:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise serializers.ValidationError("No user has this username.")
        return user


class CustomerUpdateInput(serializers.Serializer):
    region = serializers.RegexField(r"^[A-Z][A-Z0-9_-]{0,31}$", required=False)
    credit_limit = MoneyField(min_value=Decimal("0"), required=False)


class CustomerFilter(django_filters.FilterSet):
    region = django_filters.CharFilter()

    class Meta:
        model = Customer
        fields = ["region"]


CREATE_EXAMPLE = OpenApiExample(
    "A customer in the EU",
    value={
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "region": "EU",
        "credit_limit": "15.00",
        "username": "ada",
    },
    request_only=True,
)
CREATED_EXAMPLE = OpenApiExample(
    "Registered",
    value={
        "id": "6f1c1f3e-3d6a-4a53-9d5c-8f1f7c1f2a10",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "region": "EU",
        "credit_limit": "15.00",
        "available_credit": "15.00",
    },
    response_only=True,
    status_codes=["201"],
)


class CustomerListCreateView(generics.GenericAPIView):
    permission_classes = [StaffWritesOthersRead]
    serializer_class = CustomerOutput
    filterset_class = CustomerFilter

    def get_queryset(self):  # noqa: ANN201
        return selectors.customers_visible_to(user=self.request.user).order_by("name", "id")

    @extend_schema(operation_id="customers_list", responses=CustomerOutput(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(CustomerOutput(page, many=True).data)

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        operation_id="customers_create",
        request=CustomerCreateInput,
        responses={
            201: CustomerOutput,
            **problems(
                {
                    409: (
                        "Another request registered this email at the same moment.",
                        "The request conflicts with data that already exists.",
                    )
                }
            ),
        },
        examples=[CREATE_EXAMPLE, CREATED_EXAMPLE],
    )
    def post(self, request: Request) -> Response:
        data = CustomerCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        # Valid input is an object (the serializer refused anything else).
        body = {**data.validated_data, "username": cast(dict, request.data).get("username")}
        with idempotent(request, model=IdempotencyKey, using="customers", body=body) as call:
            if call.replayed:
                return call.replayed
            customer = services.customer_register(
                name=data.validated_data["name"],
                email=data.validated_data["email"],
                region=data.validated_data["region"],
                credit_limit=data.validated_data["credit_limit"],
                owner=data.validated_data.get("username"),
            )
            created = CustomerOutput(customer).data
            return call.remember(Response(created, status=status.HTTP_201_CREATED))


class CustomerDetailView(generics.GenericAPIView):
    serializer_class = CustomerOutput

    def get_queryset(self):  # noqa: ANN201
        return selectors.customers_visible_to(user=self.request.user)

    @extend_schema(operation_id="customers_retrieve", responses=CustomerOutput)
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        return Response(CustomerOutput(get_object_or_404(self.get_queryset(), pk=pk)).data)

    @extend_schema(
        operation_id="customers_update",
        request=CustomerUpdateInput,
        responses=CustomerOutput,
        examples=[
            OpenApiExample("Raise the limit", value={"credit_limit": "500.00"}, request_only=True)
        ],
    )
    def patch(self, request: Request, pk: uuid.UUID) -> Response:
        get_object_or_404(self.get_queryset(), pk=pk)  # someone else's: 404, not 403
        if not request.user.is_staff:
            raise PermissionDenied("Only staff may change a customer.")
        data = CustomerUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.customer_update(customer_id=pk, **data.validated_data)
        return Response(CustomerOutput(self.get_queryset().get(pk=pk)).data)


class CustomerOrderOutput(serializers.Serializer):
    order_id = serializers.UUIDField()
    state = serializers.CharField()
    total = MoneyField()
    rejection_reason = serializers.CharField()
    placed_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CustomerOrdersView(generics.GenericAPIView):
    """The customer's recent orders, from the customers module's own read model."""

    serializer_class = CustomerOrderOutput
    queryset = Customer.objects.none()  # for the schema: {pk} is a customer's

    @extend_schema(operation_id="customers_orders", responses=CustomerOrderOutput(many=True))
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        get_object_or_404(selectors.customers_visible_to(user=request.user), pk=pk)
        page = self.paginate_queryset(selectors.customer_orders(customer_id=pk))
        return self.get_paginated_response(CustomerOrderOutput(page, many=True).data)
