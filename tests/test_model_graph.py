"""Modules never foreign-key each other, and every table sits in its owner's schema."""

from __future__ import annotations

import psycopg
import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.test.utils import isolate_apps

from project.provisioning import conninfo
from project.routers import ModuleRouter
from tests.architecture import (
    GENERIC_RELATION_EXEMPTIONS,
    misplaced_tables,
    relation_violations,
)


def test_no_relation_crosses_a_module_boundary() -> None:
    violations, used = relation_violations(apps.get_models(include_auto_created=True))
    assert violations == []
    stale = set(GENERIC_RELATION_EXEMPTIONS) - used
    assert not stale, f"exemptions that match nothing any more, remove them: {stale}"


@isolate_apps("apps.customers", "apps.orders")
def test_a_foreign_key_from_orders_to_customers_is_caught() -> None:
    class Customer(models.Model):
        class Meta:
            app_label = "customers"

    class Order(models.Model):
        customer = models.ForeignKey(Customer, on_delete=models.CASCADE)

        class Meta:
            app_label = "orders"

    violations, _ = relation_violations([Customer, Order])
    assert violations == [
        "orders.Order.customer -> customers.Customer: crosses from 'orders' to 'customers'; "
        "store the id as a UUID instead"
    ]


@isolate_apps("apps.ticketing", "apps.bookings")
def test_a_many_to_many_across_modules_is_caught() -> None:
    class Seat(models.Model):
        class Meta:
            app_label = "ticketing"

    class Booking(models.Model):
        seats = models.ManyToManyField(Seat)

        class Meta:
            app_label = "bookings"

    violations, _ = relation_violations([Seat, Booking])
    assert any(v.startswith("bookings.Booking.seats -> ticketing.Seat") for v in violations)


@isolate_apps("apps.events")
def test_a_generic_relation_in_a_module_is_caught() -> None:
    class Anything(models.Model):
        content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
        object_id = models.UUIDField()
        target = GenericForeignKey("content_type", "object_id")

        class Meta:
            app_label = "events"

    violations, _ = relation_violations([Anything], exemptions={})
    assert "events.Anything.target: a generic relation can point into any module" in violations
    assert any("events.Anything.content_type -> contenttypes.ContentType" in v for v in violations)


@isolate_apps("apps.customers", "apps.orders")
def test_the_router_refuses_a_relation_across_modules() -> None:
    class Customer(models.Model):
        class Meta:
            app_label = "customers"

    class Order(models.Model):
        customer = models.ForeignKey(Customer, on_delete=models.CASCADE)

        class Meta:
            app_label = "orders"

    customer, order = Customer(pk=1), Order(pk=1)
    customer._state.db, order._state.db = "customers", "orders"
    assert ModuleRouter().allow_relation(order, customer) is False
    with pytest.raises(ValueError, match="router prevents this relation"):
        order.customer = customer


def test_the_router_sends_each_app_to_its_owner_alias_only() -> None:
    router = ModuleRouter()
    for config in apps.get_app_configs():
        owner = config.label if config.label in settings.DATABASES else "default"
        for alias in settings.DATABASES:
            assert router.allow_migrate(alias, config.label) is (alias == owner), (
                config.label,
                alias,
            )
        for model in config.get_models():
            assert router.db_for_read(model) == owner
            assert router.db_for_write(model) == owner


@pytest.mark.django_db(databases="__all__")
def test_every_table_is_in_its_owners_schema_and_nowhere_else(django_db_setup: str) -> None:
    with psycopg.connect(conninfo(settings.DATABASE_OWNER, dbname=django_db_setup)) as conn:
        rows = conn.execute(
            "SELECT tablename, schemaname FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
    schemas_by_table: dict[str, set[str]] = {}
    for table, schema in rows:
        schemas_by_table.setdefault(table, set()).add(schema)
    assert misplaced_tables(apps.get_models(include_auto_created=True), schemas_by_table) == []
    # Each alias keeps its own migration history in its own schema.
    assert schemas_by_table["django_migrations"] == {
        "platform",
        "customers",
        "orders",
        "ticketing",
        "bookings",
        "events",
    }


@isolate_apps("apps.orders")
def test_a_table_in_the_wrong_schema_is_caught() -> None:
    class Order(models.Model):
        class Meta:
            app_label = "orders"
            db_table = "orders_order"

    assert misplaced_tables([Order], {"orders_order": {"orders"}}) == []
    assert misplaced_tables([Order], {"orders_order": {"platform"}}) == [
        "orders.Order: table orders_order is in platform, not orders"
    ]
    assert misplaced_tables([Order], {}) == [
        "orders.Order: table orders_order is in nowhere, not orders"
    ]
