"""`manage.py reconcile_reserved_credit`: set each customer's running total of
reserved credit back to its ledger, where `audit_consistency` found them apart."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from apps.customers import services


class Command(BaseCommand):
    help = (
        "Set each customer's reserved_credit to the sum of its OPEN reservations where"
        " the two differ (each under the customer's row lock). Prints the customers set."
    )

    def handle(self, *args: object, **options: object) -> None:
        reconciled = services.customer_reserved_credit_reconcile()
        for customer_id in reconciled:
            self.stdout.write(f"customer {customer_id}: reserved credit set from its ledger")
        self.stdout.write(self.style.SUCCESS(f"{len(reconciled)} customer(s) reconciled"))
