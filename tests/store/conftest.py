from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from apps.customers import services as customer_services
from apps.customers.models import Customer


@pytest.fixture
def staff() -> APIClient:
    client = APIClient()
    client.force_authenticate(User.objects.create_user("staff", is_staff=True))
    return client


@pytest.fixture
def make_customer():
    def make(
        *, limit: str = "15.00", owner: User | None = None, email: str | None = None
    ) -> Customer:
        count = Customer.objects.using("customers").count()
        return customer_services.customer_register(
            name=f"Customer {count}",
            email=email or f"c{count}@example.com",
            region="EU",
            credit_limit=Decimal(limit),
            owner=owner,
        )

    return make


@pytest.fixture
def user_client():
    def make(username: str) -> tuple[User, APIClient]:
        user = User.objects.create_user(username, password="pw")
        client = APIClient()
        client.force_authenticate(user)
        return user, client

    return make
