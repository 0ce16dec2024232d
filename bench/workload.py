"""The standard Place Order workload, as numbers: what each order totals and
how many the saga must approve. No Django here: tests import it as it is."""

from __future__ import annotations

from decimal import Decimal


def order_total(i: int) -> Decimal:
    """The total of order i (one line): 1 + (i * 7919) % 100."""
    return Decimal(1 + (i * 7919) % 100)


def expected_decisions(*, customers: int, orders: int, limit: Decimal) -> tuple[int, int]:
    """(approved, rejected) when orders 0..orders-1 go to customer i % customers,
    each with credit `limit`, and are checked in placement order, as one client
    placing them serially has them checked."""
    reserved = [Decimal(0)] * customers
    approved = 0
    for i in range(orders):
        customer, total = i % customers, order_total(i)
        if reserved[customer] + total <= limit:
            reserved[customer] += total
            approved += 1
    return approved, orders - approved
