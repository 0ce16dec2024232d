"""The customers module's invariants (project/invariants.py)."""

from __future__ import annotations

from collections.abc import Iterator

from apps.customers.public.queries import customers_over_limit, customers_reserved_out_of_step
from project.invariants import AuditWindow, invariant


@invariant
def reservations_stay_within_the_credit_limit(window: AuditWindow) -> Iterator[str]:
    for customer in customers_over_limit():
        yield (
            f"customer {customer.customer_id} has more reserved than its limit"
            f" {customer.credit_limit} (available {customer.available_credit})"
        )


@invariant
def the_reserved_total_matches_the_ledger(window: AuditWindow) -> Iterator[str]:
    for mismatch in customers_reserved_out_of_step():
        yield (
            f"customer {mismatch.customer_id} has {mismatch.reserved_credit} reserved by its"
            f" running total but {mismatch.ledger_reserved} by its ledger"
        )
