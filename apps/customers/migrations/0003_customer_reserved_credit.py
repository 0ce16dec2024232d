# The running total of each customer's OPEN reservations, filled from the
# ledger in the same transaction that adds it. Were a ledger over its limit
# already (`audit_consistency` would have said so), adding the constraint fails
# and nothing changes: settle those reservations first.

from decimal import Decimal

from django.db import migrations, models

FILL_FROM_LEDGER = """
UPDATE customers_customer AS customer
SET reserved_credit = ledger.total
FROM (
    SELECT customer_id, sum(amount) AS total
    FROM customers_creditreservation
    WHERE state = 'OPEN'
    GROUP BY customer_id
) AS ledger
WHERE ledger.customer_id = customer.id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0002_drop_indexes_covered_by_composites"),
    ]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="reserved_credit",
            field=models.DecimalField(
                decimal_places=2,
                default=Decimal("0.00"),
                db_default=Decimal("0.00"),
                max_digits=12,
            ),
        ),
        migrations.RunSQL(FILL_FROM_LEDGER, reverse_sql=migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name="customer",
            constraint=models.CheckConstraint(
                condition=models.Q(reserved_credit__gte=0)
                & models.Q(reserved_credit__lte=models.F("credit_limit")),
                name="customer_reserved_within_limit",
                violation_error_message="Reserved credit must lie between 0 and the credit limit.",
            ),
        ),
    ]
