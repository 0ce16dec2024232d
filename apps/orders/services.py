"""Commands of the orders module: placing, deciding and cancelling orders.

State machine: PENDING -> APPROVED | REJECTED; PENDING | APPROVED -> CANCELLED.
Every command runs in one transaction on the `orders` alias and publishes what
it did in that same transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

from django.db import connections, transaction
from django.utils import timezone

from apps.events.public import MessageContext, OutboxInsert, publish, publishing_in_statement
from apps.orders.models import EarlyCancellation, Order, OrderLine
from apps.orders.public import messages
from project.bulk import rows_update

logger = logging.getLogger(__name__)
ALIAS = "orders"
State = Order.State


class OrderAlreadyFinal(Exception):
    """The order is REJECTED or CANCELLED already."""


class OrderHasOrigin(Exception):
    """The order belongs to a saga (a booking): only that saga may cancel it."""


@dataclass(frozen=True)
class LineInput:
    sku: str
    quantity: int
    unit_price: Decimal


def _money(amount: Decimal) -> str:
    # "0.00" for a -0 too, as the stored numeric (which has no negative zero) reads.
    return f"{amount.copy_abs() if amount.is_zero() else amount:.2f}"


def _origin(order: Order) -> str | None:
    return str(order.origin) if order.origin else None


def order_place(
    *,
    customer_id: uuid.UUID,
    lines: Sequence[LineInput],
    order_id: uuid.UUID | None = None,
    origin: uuid.UUID | None = None,
) -> Order:
    """Create a PENDING order and publish OrderPlaced; the credit check follows.

    With an `order_id` (the PlaceOrder command) it is idempotent: an order that
    exists already is returned and nothing is published again, and an order
    cancelled before it was placed is born CANCELLED.
    """
    if order_id is not None:
        return _order_place_once(
            customer_id=customer_id, lines=lines, order_id=order_id, origin=origin
        )
    now = timezone.now()
    # The row, in the model's field order (`_ORDER_COLUMNS`); the instance is
    # made from it as the ORM makes one it loaded, positionally, not by
    # `Order(**fields)`, which looks up every field's value by name.
    row = (
        uuid.uuid4(), customer_id, State.PENDING, _total(lines), _default_currency(),
        _default_rejection_reason(), origin, now, now,
    )  # fmt: skip
    order = Order.from_db(ALIAS, _ORDER_COLUMNS, row)
    # The hot path (every order the API or a client places): the order, its
    # lines and the outbox row go in one statement, which is its own transaction
    # outside an atomic block. Five round trips become one (docs/benchmarks.md).
    with (
        publishing_in_statement(_placed(order, lines), source=ALIAS) as outbox,
        connections[ALIAS].cursor() as cursor,
    ):
        cursor.execute(*_placement_statement(row, lines, outbox))
    return order


def _order_place_once(
    *,
    customer_id: uuid.UUID,
    lines: Sequence[LineInput],
    order_id: uuid.UUID,
    origin: uuid.UUID | None,
) -> Order:
    with transaction.atomic(using=ALIAS):
        existing = Order.objects.using(ALIAS).filter(pk=order_id).first()
        if existing is not None:
            return existing
        cancelled_first = EarlyCancellation.objects.using(ALIAS).filter(pk=order_id).exists()
        order = Order.objects.using(ALIAS).create(
            id=order_id,
            customer_id=customer_id,
            total=_total(lines),
            origin=origin,
            state=State.CANCELLED if cancelled_first else State.PENDING,
        )
        OrderLine.objects.using(ALIAS).bulk_create(
            OrderLine(order=order, sku=line.sku, quantity=line.quantity, unit_price=line.unit_price)
            for line in lines
        )
        if not cancelled_first:  # else no credit is ever asked for
            publish(_placed(order, lines), source=ALIAS)
    return order


def _total(lines: Sequence[LineInput]) -> Decimal:
    return sum((line.unit_price * line.quantity for line in lines), Decimal("0.00"))


def _placed(order: Order, lines: Sequence[LineInput]) -> messages.OrderPlaced:
    return messages.OrderPlaced(
        order_id=str(order.id),
        customer_id=str(order.customer_id),
        total=_money(order.total),
        currency=order.currency,
        lines=tuple(
            messages.OrderLine(
                sku=line.sku, quantity=line.quantity, unit_price=_money(line.unit_price)
            )
            for line in lines
        ),
        origin=_origin(order),
    )


def _placement_statement(
    row: tuple[object, ...], lines: Sequence[LineInput], outbox: OutboxInsert
) -> tuple[str, list[Any]]:
    """INSERT the order (`row`, in `_ORDER_COLUMNS` order) and its lines as CTEs
    of the outbox row's INSERT.

    Table names come from the models and every value is a parameter.
    """
    params: list[Any] = [*row]
    order_id = row[0]
    for line in lines:
        params += [order_id, line.sku, line.quantity, line.unit_price]
    return _placement_sql(len(lines), outbox.sql), [*params, *outbox.params]


# Every column of the order's table, in the model's field order (a test holds
# the two together): the placement writes them all, and `Model.from_db` maps a
# full row to the fields by position alone.
_ORDER_COLUMNS = ("id", "customer_id", "state", "total", "currency", "rejection_reason", "origin",
                  "created_at", "updated_at")  # fmt: skip
_default_currency = Order._meta.get_field("currency").get_default
_default_rejection_reason = Order._meta.get_field("rejection_reason").get_default


@lru_cache(maxsize=64)  # a few line counts are common; any is allowed
def _placement_sql(line_count: int, outbox_sql: str) -> str:
    # Built once per number of lines, not on every placement (docs/benchmarks.md).
    quote = connections[ALIAS].ops.quote_name
    placeholders = ", ".join(["%s"] * len(_ORDER_COLUMNS))
    ctes = [
        f"placed AS (INSERT INTO {quote(Order._meta.db_table)} ({', '.join(_ORDER_COLUMNS)})"  # noqa: S608
        f" VALUES ({placeholders}))"
    ]
    if line_count:
        line_rows = ", ".join(["(%s, %s, %s, %s)"] * line_count)
        ctes.append(
            f"lined AS (INSERT INTO {quote(OrderLine._meta.db_table)}"  # noqa: S608
            f" (order_id, sku, quantity, unit_price) VALUES {line_rows})"
        )
    return f"WITH {', '.join(ctes)} {outbox_sql}"


def _locked(order_id: uuid.UUID) -> Order | None:
    return Order.objects.using(ALIAS).select_for_update().filter(pk=order_id).first()


@dataclass(frozen=True)
class CreditDecision:
    """The customers module's answer about one order's credit."""

    order_id: uuid.UUID
    approved: bool
    reason: messages.RejectionReason | None = None  # when not approved
    # Whose answer this is (correlation and cause); None: the context in force.
    context: MessageContext | None = None

    def __post_init__(self) -> None:
        if self.approved == (self.reason is not None):
            raise ValueError("a rejection says why; an approval does not")


def order_decide_many(*, decisions: Sequence[CreditDecision]) -> None:
    """Approve or reject PENDING orders as their credit answers say, in a few statements.

    The orders are locked (in id order); one that is no longer PENDING (cancelled
    meanwhile, or answered already) is left as it is.
    """
    if not decisions:
        return
    with transaction.atomic(using=ALIAS):
        orders = {
            order.id: order
            for order in Order.objects.using(ALIAS)
            .select_for_update()
            .filter(pk__any={d.order_id for d in decisions})
            .only("id", "customer_id", "state", "total", "origin", "rejection_reason")
            .order_by("pk")
        }
        now = timezone.now()
        changed: list[Order] = []
        for decision in decisions:
            order = orders.get(decision.order_id)
            if order is None or order.state != State.PENDING:
                continue
            order.updated_at = now
            if decision.approved:
                order.state = State.APPROVED
                message: messages.OrderApproved | messages.OrderRejected = messages.OrderApproved(
                    order_id=str(order.id),
                    customer_id=str(order.customer_id),
                    total=_money(order.total),
                    origin=_origin(order),
                )
            else:
                order.state = State.REJECTED
                order.rejection_reason = str(decision.reason)
                message = messages.OrderRejected(
                    order_id=str(order.id),
                    customer_id=str(order.customer_id),
                    reason=cast(messages.RejectionReason, decision.reason),
                    origin=_origin(order),
                )
            changed.append(order)
            publish(message, source=ALIAS, context=decision.context)
        _orders_set_states(changed, at=now)


def _orders_set_states(orders: Sequence[Order], *, at: datetime) -> None:
    rows_update(
        Order,
        using=ALIAS,
        key="id",
        fields=("state", "rejection_reason", "updated_at"),
        rows=[(order.id, order.state, order.rejection_reason, at) for order in orders],
    )


def order_cancel_early(*, order_id: uuid.UUID) -> None:
    """Remember a cancel for an order not placed yet, so that it is born CANCELLED."""
    with transaction.atomic(using=ALIAS):
        if not Order.objects.using(ALIAS).filter(pk=order_id).exists():
            EarlyCancellation.objects.using(ALIAS).get_or_create(order_id=order_id)
            return
    order_cancel(order_id=order_id, for_origin=True)


def order_cancel(*, order_id: uuid.UUID, for_origin: bool = False) -> Order:
    """Cancel a PENDING or APPROVED order; the customers module releases its credit.

    Raises OrderAlreadyFinal for a REJECTED or CANCELLED order, and OrderHasOrigin
    for an order a booking placed, unless the booking's saga asks (`for_origin`,
    the CancelOrder command): cancelling it alone would leave the booking's seats
    and tickets standing with its credit gone.
    """
    with transaction.atomic(using=ALIAS):
        order = _locked(order_id)
        if order is None:
            raise Order.DoesNotExist(order_id)
        if order.origin is not None and not for_origin:
            raise OrderHasOrigin(f"order {order_id} belongs to booking {order.origin}")
        if order.state in Order.FINAL_STATES:
            raise OrderAlreadyFinal(f"order {order_id} is {order.state}")
        order.state = State.CANCELLED
        order.save(using=ALIAS, update_fields=["state", "updated_at"])
        publish(
            messages.OrderCancelled(
                order_id=str(order.id),
                customer_id=str(order.customer_id),
                total=_money(order.total),
                origin=_origin(order),
            ),
            source=ALIAS,
        )
    return order
