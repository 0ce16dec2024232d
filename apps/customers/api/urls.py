from django.urls import path

from apps.customers.api.views import CustomerDetailView, CustomerListCreateView, CustomerOrdersView

urlpatterns = [
    path("customers/", CustomerListCreateView.as_view(), name="customers"),
    path("customers/<uuid:pk>/", CustomerDetailView.as_view(), name="customer"),
    path("customers/<uuid:pk>/orders/", CustomerOrdersView.as_view(), name="customer-orders"),
]
