"""REST endpoints of the bookings module. Thin: input, a service or selector, output."""

from __future__ import annotations

import uuid

import django_filters
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from apps.bookings import selectors, services
from apps.bookings.models import Booking, IdempotencyKey
from apps.customers.public.queries import customer_ids_visible_to
from apps.events.public.queries import saga_of
from apps.ticketing.public.queries import performance_sections
from project.api.idempotency import idempotent
from project.api.problems import Conflict
from project.api.schema import IDEMPOTENCY_KEY, NOT_THE_USERS_CUSTOMER, problems
from project.api.serializers import MoneyField, SagaMessageOutput

ALIAS = "bookings"


class SeatRequestInput(serializers.Serializer):
    section = serializers.CharField(max_length=100)
    quantity = serializers.IntegerField(min_value=1, max_value=20)


class BookingCreateInput(serializers.Serializer):
    customer_id = serializers.UUIDField()
    performance_id = serializers.UUIDField()
    seats = serializers.ListField(child=SeatRequestInput(), min_length=1, max_length=10)

    def validate(self, data: dict) -> dict:
        names = [s["section"] for s in data["seats"]]
        if len(set(names)) != len(names):
            raise serializers.ValidationError({"seats": ["One entry per section."]})
        sections = performance_sections(performance_id=data["performance_id"])
        if sections is None:
            raise serializers.ValidationError({"performance_id": ["No such performance."]})
        unknown = sorted(set(names) - set(sections.prices))
        if unknown:
            raise serializers.ValidationError(
                {"seats": [f"No section {name!r} at this performance." for name in unknown]}
            )
        return data


class TicketOutput(serializers.Serializer):
    code = serializers.CharField()
    section = serializers.CharField()
    row = serializers.IntegerField()
    number = serializers.IntegerField()
    price = MoneyField()


class BookingOutput(serializers.Serializer):
    id = serializers.UUIDField()
    customer_id = serializers.UUIDField()
    performance_id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=Booking.State.choices)
    order_id = serializers.UUIDField(allow_null=True)
    total = MoneyField(allow_null=True)
    tickets = TicketOutput(many=True)
    reason = serializers.CharField(allow_blank=True)
    hold_expires_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class BookingFilter(django_filters.FilterSet):
    customer_id = django_filters.UUIDFilter()
    state = django_filters.ChoiceFilter(choices=Booking.State.choices)

    class Meta:
        model = Booking
        fields = ["customer_id", "state"]


BOOK_EXAMPLE = OpenApiExample(
    "Two in the stalls",
    value={
        "customer_id": "6f1c1f3e-3d6a-4a53-9d5c-8f1f7c1f2a10",
        "performance_id": "2b1c0f3e-3d6a-4a53-9d5c-8f1f7c1f2a10",
        "seats": [{"section": "Stalls", "quantity": 2}],
    },
    request_only=True,
)


class BookingListCreateView(generics.GenericAPIView):
    serializer_class = BookingOutput
    filterset_class = BookingFilter

    def get_queryset(self) -> QuerySet[Booking]:
        if getattr(self, "swagger_fake_view", False):  # the schema needs no database
            return Booking.objects.none()
        return selectors.bookings_visible_to(user=self.request.user).order_by("-created_at", "id")

    @extend_schema(operation_id="bookings_list", responses=BookingOutput(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(BookingOutput(page, many=True).data)

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        operation_id="bookings_create",
        request=BookingCreateInput,
        responses={
            202: BookingOutput,
            **problems(NOT_THE_USERS_CUSTOMER),
        },
        examples=[BOOK_EXAMPLE],
        description=(
            "Starts the Book Seats saga: the booking is REQUESTED, then SEATS_HELD,"
            " AWAITING_PAYMENT and CONFIRMED, or REJECTED or EXPIRED (poll it)."
        ),
    )
    def post(self, request: Request) -> Response:
        data = BookingCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        if not request.user.is_staff and body["customer_id"] not in customer_ids_visible_to(
            user_id=request.user.pk
        ):
            raise NotFound("No such customer.")
        with idempotent(request, model=IdempotencyKey, using=ALIAS, body=body) as call:
            if call.replayed:
                return call.replayed
            booking = services.booking_request(
                customer_id=body["customer_id"],
                performance_id=body["performance_id"],
                seats=[(s["section"], s["quantity"]) for s in body["seats"]],
            )
            # As written (REQUESTED): read back after the commit, the saga may
            # have moved it on already.
            output = BookingOutput(booking).data
            return call.remember(Response(output, status=status.HTTP_202_ACCEPTED))


class BookingDetailView(generics.GenericAPIView):
    serializer_class = BookingOutput

    def get_queryset(self) -> QuerySet[Booking]:
        return selectors.bookings_visible_to(user=self.request.user)

    @extend_schema(operation_id="bookings_retrieve", responses=BookingOutput)
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        return Response(BookingOutput(get_object_or_404(self.get_queryset(), pk=pk)).data)


class BookingCancelView(generics.GenericAPIView):
    serializer_class = BookingOutput
    queryset = Booking.objects.none()  # for the schema: {pk} is a booking's

    @extend_schema(
        operation_id="bookings_cancel",
        request=None,
        responses={
            202: BookingOutput,
            **problems({409: ("Not CONFIRMED.", "Only a CONFIRMED booking can be cancelled.")}),
        },
        description=(
            "Cancels a CONFIRMED booking: tickets voided, seats released, order cancelled and"
            " its credit released. 409 in any other state."
        ),
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        visible = selectors.bookings_visible_to(user=request.user)
        get_object_or_404(visible, pk=pk)
        try:
            services.booking_cancel(booking_id=pk)
        except services.BookingNotCancellable as exc:
            raise Conflict("Only a CONFIRMED booking can be cancelled.") from exc
        return Response(BookingOutput(visible.get(pk=pk)).data, status=status.HTTP_202_ACCEPTED)


class BookingEventsView(generics.GenericAPIView):
    serializer_class = SagaMessageOutput
    pagination_class = None
    queryset = Booking.objects.none()  # for the schema: {pk} is a booking's

    @extend_schema(operation_id="bookings_events", responses=SagaMessageOutput(many=True))
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        booking = get_object_or_404(selectors.bookings_visible_to(user=request.user), pk=pk)
        its_order = [str(booking.order_id)] if booking.order_id else []
        timeline = saga_of(aggregate_id=str(pk), with_aggregates=its_order)
        return Response(SagaMessageOutput(timeline, many=True).data)
