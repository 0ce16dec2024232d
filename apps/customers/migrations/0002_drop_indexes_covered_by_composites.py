# Each index dropped here is the first column of a composite index already
# (`reservation_customer_state`, `customer_order_recent`). Dropped CONCURRENTLY
# and outside a transaction, so that writes go on meanwhile; the state change
# alone, so that Django does not drop and re-create (and re-check) the
# reservations' foreign key as a db_index change on it would.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ("customers", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="creditreservation",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reservations",
                        to="customers.customer",
                    ),
                ),
                migrations.AlterField(
                    model_name="customerorder",
                    name="customer_id",
                    field=models.UUIDField(),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX CONCURRENTLY IF EXISTS customers_creditreservation_customer_id_49d3b0d9",
                    [  # a failed CONCURRENTLY build leaves an invalid index: replace it
                        "DROP INDEX CONCURRENTLY IF EXISTS customers_creditreservation_customer_id_49d3b0d9",
                        "CREATE INDEX CONCURRENTLY customers_creditreservation_customer_id_49d3b0d9 ON customers_creditreservation (customer_id)",
                    ],
                ),
                migrations.RunSQL(
                    "DROP INDEX CONCURRENTLY IF EXISTS customers_customerorder_customer_id_7339c352",
                    [  # a failed CONCURRENTLY build leaves an invalid index: replace it
                        "DROP INDEX CONCURRENTLY IF EXISTS customers_customerorder_customer_id_7339c352",
                        "CREATE INDEX CONCURRENTLY customers_customerorder_customer_id_7339c352 ON customers_customerorder (customer_id)",
                    ],
                ),
            ],
        ),
    ]
