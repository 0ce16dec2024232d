"""`manage.py reconcile_reserved_credit`: set each customer's running total of
reserved credit back to its ledger, where `audit_consistency` found them apart."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.customers import services


class Command(BaseCommand):
    help = (
        "Set each customer's reserved_credit to the sum of its OPEN reservations where"
        " the two differ (each under the customer's row lock). Prints the customers set;"
        " exits non-zero if a ledger exceeds its limit (left as it was)."
    )

    def handle(self, *args: object, **options: object) -> None:
        result = services.credit_totals_reconcile()
        for customer_id in result.set_from_ledger:
            self.stdout.write(f"customer {customer_id}: reserved credit set from its ledger")
        for customer_id in result.over_limit:
            self.stdout.write(
                self.style.ERROR(
                    f"customer {customer_id}: its open reservations exceed its limit;"
                    " left as it was (settle them first)"
                )
            )
        self.stdout.write(
            self.style.SUCCESS(f"{len(result.set_from_ledger)} customer(s) reconciled")
        )
        if result.over_limit:
            raise CommandError(f"{len(result.over_limit)} customer(s) over their limit")
