"""REST endpoints of the ticketing module: the catalogue (staff write, everyone reads)
and a performance's availability. Thin: input, a service or selector, output."""

from __future__ import annotations

import uuid
from decimal import Decimal

import django_filters
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.ticketing import selectors, services
from apps.ticketing.models import IdempotencyKey, Performance, Show, Venue
from project.api.idempotency import idempotent
from project.api.permissions import StaffWritesOthersRead
from project.api.schema import IDEMPOTENCY_KEY
from project.api.serializers import MoneyField

ALIAS = "ticketing"


# --- Venues ------------------------------------------------------------------


class SectionInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    rows = serializers.IntegerField(min_value=1, max_value=200)
    seats_per_row = serializers.IntegerField(min_value=1, max_value=500)


class VenueInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    city = serializers.CharField(max_length=100)
    sections = serializers.ListField(child=SectionInput(), min_length=1, max_length=50)


class SectionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    rows = serializers.IntegerField()
    seats_per_row = serializers.IntegerField()
    capacity = serializers.IntegerField()


class VenueOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    city = serializers.CharField()
    sections = SectionOutput(many=True)


VENUE_EXAMPLE = OpenApiExample(
    "Two sections",
    value={
        "name": "Old Vic",
        "city": "London",
        "sections": [
            {"name": "Stalls", "rows": 10, "seats_per_row": 20},
            {"name": "Circle", "rows": 6, "seats_per_row": 16},
        ],
    },
    request_only=True,
)


def _venues() -> QuerySet[Venue]:
    return Venue.objects.using(ALIAS).prefetch_related("sections")


class VenueListCreateView(generics.GenericAPIView):
    serializer_class = VenueOutput
    permission_classes = [StaffWritesOthersRead]

    def get_queryset(self) -> QuerySet[Venue]:
        return _venues().order_by("name", "id")

    @extend_schema(operation_id="venues_list", responses=VenueOutput(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(VenueOutput(page, many=True).data)

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        operation_id="venues_create",
        request=VenueInput,
        responses={201: VenueOutput},
        examples=[VENUE_EXAMPLE],
    )
    def post(self, request: Request) -> Response:
        data = VenueInput(data=request.data)
        data.is_valid(raise_exception=True)
        with idempotent(
            request, model=IdempotencyKey, using=ALIAS, body=data.validated_data
        ) as call:
            if call.replayed:
                return call.replayed
            venue = services.venue_create(
                name=data.validated_data["name"],
                city=data.validated_data["city"],
                sections=[services.SectionInput(**s) for s in data.validated_data["sections"]],
            )
            body = VenueOutput(_venues().get(pk=venue.pk)).data
            return call.remember(Response(body, status=status.HTTP_201_CREATED))


class VenueDetailView(generics.GenericAPIView):
    serializer_class = VenueOutput
    permission_classes = [StaffWritesOthersRead]
    queryset = Venue.objects.none()

    @extend_schema(operation_id="venues_retrieve", responses=VenueOutput)
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        return Response(VenueOutput(get_object_or_404(_venues(), pk=pk)).data)


# --- Shows -------------------------------------------------------------------


class ShowInput(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, required=False, default="")


class ShowOutput(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    description = serializers.CharField()


class ShowListCreateView(generics.GenericAPIView):
    serializer_class = ShowOutput
    permission_classes = [StaffWritesOthersRead]

    def get_queryset(self) -> QuerySet[Show]:
        return Show.objects.using(ALIAS).order_by("title", "id")

    @extend_schema(operation_id="shows_list", responses=ShowOutput(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ShowOutput(page, many=True).data)

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        operation_id="shows_create",
        request=ShowInput,
        responses={201: ShowOutput},
        examples=[
            OpenApiExample(
                "A play",
                value={"title": "Hamlet", "description": "The Prince of Denmark."},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = ShowInput(data=request.data)
        data.is_valid(raise_exception=True)
        with idempotent(
            request, model=IdempotencyKey, using=ALIAS, body=data.validated_data
        ) as call:
            if call.replayed:
                return call.replayed
            show = services.show_create(**data.validated_data)
            return call.remember(Response(ShowOutput(show).data, status=status.HTTP_201_CREATED))


class ShowDetailView(generics.GenericAPIView):
    serializer_class = ShowOutput
    permission_classes = [StaffWritesOthersRead]
    queryset = Show.objects.none()

    @extend_schema(operation_id="shows_retrieve", responses=ShowOutput)
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        show = get_object_or_404(Show.objects.using(ALIAS), pk=pk)
        return Response(ShowOutput(show).data)


# --- Performances ------------------------------------------------------------


class PriceInput(serializers.Serializer):
    section = serializers.CharField(max_length=100)
    # Capped so that a booking's total (up to 200 seats) always fits an order's.
    price = MoneyField(min_value=Decimal("0"), max_value=Decimal("100000.00"))


class PerformanceInput(serializers.Serializer):
    show_id = serializers.UUIDField()
    venue_id = serializers.UUIDField()
    starts_at = serializers.DateTimeField()
    prices = serializers.ListField(child=PriceInput(), min_length=1, max_length=50)

    def validate_prices(self, prices: list[dict]) -> list[dict]:
        names = [p["section"] for p in prices]
        if len(set(names)) != len(names):
            raise serializers.ValidationError("One price per section.")
        return prices


class PriceOutput(serializers.Serializer):
    section = serializers.CharField(source="section.name")
    price = MoneyField()


class PerformanceOutput(serializers.Serializer):
    id = serializers.UUIDField()
    show_id = serializers.UUIDField()
    venue_id = serializers.UUIDField()
    starts_at = serializers.DateTimeField()
    prices = PriceOutput(many=True)


class PerformanceFilter(django_filters.FilterSet):
    show_id = django_filters.UUIDFilter()
    venue_id = django_filters.UUIDFilter()

    class Meta:
        model = Performance
        fields = ["show_id", "venue_id"]


def _performances() -> QuerySet[Performance]:
    return Performance.objects.using(ALIAS).prefetch_related("prices__section")


class PerformanceListCreateView(generics.GenericAPIView):
    serializer_class = PerformanceOutput
    permission_classes = [StaffWritesOthersRead]
    filterset_class = PerformanceFilter

    def get_queryset(self) -> QuerySet[Performance]:
        return _performances().order_by("starts_at", "id")

    @extend_schema(operation_id="performances_list", responses=PerformanceOutput(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(PerformanceOutput(page, many=True).data)

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        operation_id="performances_create",
        request=PerformanceInput,
        responses={201: PerformanceOutput},
        examples=[
            OpenApiExample(
                "Priced per section",
                value={
                    "show_id": "2b1c0f3e-3d6a-4a53-9d5c-8f1f7c1f2a10",
                    "venue_id": "7a9d3c1e-1b2a-4c3d-8e9f-0a1b2c3d4e5f",
                    "starts_at": "2026-12-24T19:30:00+00:00",
                    "prices": [
                        {"section": "Stalls", "price": "45.00"},
                        {"section": "Circle", "price": "30.00"},
                    ],
                },
                request_only=True,
            )
        ],
        description="Every section of the venue needs a price, and no other section may have one.",
    )
    def post(self, request: Request) -> Response:
        data = PerformanceInput(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        with idempotent(request, model=IdempotencyKey, using=ALIAS, body=body) as call:
            if call.replayed:
                return call.replayed
            performance = services.performance_create(
                show_id=body["show_id"],
                venue_id=body["venue_id"],
                starts_at=body["starts_at"],
                prices={p["section"]: p["price"] for p in body["prices"]},
            )
            output = PerformanceOutput(_performances().get(pk=performance.pk)).data
            return call.remember(Response(output, status=status.HTTP_201_CREATED))


class PerformanceDetailView(generics.GenericAPIView):
    serializer_class = PerformanceOutput
    permission_classes = [StaffWritesOthersRead]
    queryset = Performance.objects.none()

    @extend_schema(operation_id="performances_retrieve", responses=PerformanceOutput)
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        return Response(PerformanceOutput(get_object_or_404(_performances(), pk=pk)).data)


class SectionAvailabilityOutput(serializers.Serializer):
    section = serializers.CharField()
    capacity = serializers.IntegerField()
    available = serializers.IntegerField()
    held = serializers.IntegerField()
    sold = serializers.IntegerField()
    price = MoneyField()


class AvailabilityOutput(serializers.Serializer):
    sections = SectionAvailabilityOutput(many=True)


class PerformanceAvailabilityView(generics.GenericAPIView):
    serializer_class = AvailabilityOutput
    pagination_class = None
    queryset = Performance.objects.none()

    @extend_schema(operation_id="performances_availability", responses=AvailabilityOutput)
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        get_object_or_404(Performance.objects.using(ALIAS), pk=pk)
        sections = selectors.performance_availability(performance_id=pk)
        return Response(AvailabilityOutput({"sections": sections}).data)
