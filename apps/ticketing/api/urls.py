from django.urls import path

from apps.ticketing.api.views import (
    PerformanceAvailabilityView,
    PerformanceDetailView,
    PerformanceListCreateView,
    ShowDetailView,
    ShowListCreateView,
    VenueDetailView,
    VenueListCreateView,
)

urlpatterns = [
    path("venues/", VenueListCreateView.as_view(), name="venues"),
    path("venues/<uuid:pk>/", VenueDetailView.as_view(), name="venue"),
    path("shows/", ShowListCreateView.as_view(), name="shows"),
    path("shows/<uuid:pk>/", ShowDetailView.as_view(), name="show"),
    path("performances/", PerformanceListCreateView.as_view(), name="performances"),
    path("performances/<uuid:pk>/", PerformanceDetailView.as_view(), name="performance"),
    path(
        "performances/<uuid:pk>/availability/",
        PerformanceAvailabilityView.as_view(),
        name="performance-availability",
    ),
]
