from django.urls import path

from apps.orders.api.views import (
    OrderCancelView,
    OrderDetailView,
    OrderEventsView,
    OrderListCreateView,
)

urlpatterns = [
    path("orders/", OrderListCreateView.as_view(), name="orders"),
    path("orders/<uuid:pk>/", OrderDetailView.as_view(), name="order"),
    path("orders/<uuid:pk>/cancel/", OrderCancelView.as_view(), name="order-cancel"),
    path("orders/<uuid:pk>/events/", OrderEventsView.as_view(), name="order-events"),
]
