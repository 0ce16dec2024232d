from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from project.api.views import HealthView, LivenessView, MeView, TokenObtainView

urlpatterns = [
    path("auth/token/", TokenObtainView.as_view(), name="auth-token"),
    path("health/", HealthView.as_view(), name="health"),
    path("health/live/", LivenessView.as_view(), name="health-live"),
    path("me/", MeView.as_view(), name="me"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    # Each module contributes its own endpoints; included by name, never imported.
    path("", include("apps.customers.api.urls")),
    path("", include("apps.orders.api.urls")),
    path("", include("apps.ticketing.api.urls")),
    path("", include("apps.bookings.api.urls")),
    path("", include("apps.events.api.urls")),
]
