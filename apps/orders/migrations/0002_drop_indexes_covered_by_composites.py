# orders_order(customer_id) is the first column of `order_customer_state`
# already. Dropped CONCURRENTLY and outside a transaction, so that placements
# go on meanwhile.

from django.db import migrations, models


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ("orders", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="order",
                    name="customer_id",
                    field=models.UUIDField(),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX CONCURRENTLY IF EXISTS orders_order_customer_id_0b76f6a4",
                    [  # a failed CONCURRENTLY build leaves an invalid index: replace it
                        "DROP INDEX CONCURRENTLY IF EXISTS orders_order_customer_id_0b76f6a4",
                        "CREATE INDEX CONCURRENTLY orders_order_customer_id_0b76f6a4 ON orders_order (customer_id)",
                    ],
                ),
            ],
        ),
    ]
