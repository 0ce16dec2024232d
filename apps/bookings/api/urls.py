from django.urls import path

from apps.bookings.api.views import (
    BookingCancelView,
    BookingDetailView,
    BookingEventsView,
    BookingListCreateView,
)

urlpatterns = [
    path("bookings/", BookingListCreateView.as_view(), name="bookings"),
    path("bookings/<uuid:pk>/", BookingDetailView.as_view(), name="booking"),
    path("bookings/<uuid:pk>/cancel/", BookingCancelView.as_view(), name="booking-cancel"),
    path("bookings/<uuid:pk>/events/", BookingEventsView.as_view(), name="booking-events"),
]
