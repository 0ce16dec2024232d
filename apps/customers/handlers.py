"""What the customers module does with other modules' messages. Thin: services do it."""

from __future__ import annotations

import uuid
from decimal import Decimal

from apps.customers import services
from apps.events.public import Envelope, projection, subscribe
from apps.orders.public.messages import (
    OrderApproved,
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
)


@subscribe(OrderPlaced)
def reserve_credit(message: OrderPlaced, envelope: Envelope) -> None:
    services.credit_reserve(
        order_id=uuid.UUID(message.order_id),
        customer_id=uuid.UUID(message.customer_id),
        amount=Decimal(message.total),
    )


@subscribe(OrderCancelled)
def release_credit(message: OrderCancelled, envelope: Envelope) -> None:
    services.credit_release(
        order_id=uuid.UUID(message.order_id), customer_id=uuid.UUID(message.customer_id)
    )


order_history = projection(
    "customers.order_history", module="customers", reset=services.customer_order_history_reset
)


@order_history.handles(OrderPlaced)
def order_placed(message: OrderPlaced, envelope: Envelope) -> None:
    services.customer_order_record_placed(
        order_id=uuid.UUID(message.order_id),
        customer_id=uuid.UUID(message.customer_id),
        total=Decimal(message.total),
        at=envelope.occurred_at,
        position=envelope.position or 0,
    )


@order_history.handles(OrderApproved)
def order_approved(message: OrderApproved, envelope: Envelope) -> None:
    services.customer_order_record_state(
        order_id=uuid.UUID(message.order_id),
        state="APPROVED",
        at=envelope.occurred_at,
        position=envelope.position or 0,
    )


@order_history.handles(OrderRejected)
def order_rejected(message: OrderRejected, envelope: Envelope) -> None:
    services.customer_order_record_state(
        order_id=uuid.UUID(message.order_id),
        state="REJECTED",
        reason=message.reason,
        at=envelope.occurred_at,
        position=envelope.position or 0,
    )


@order_history.handles(OrderCancelled)
def order_cancelled(message: OrderCancelled, envelope: Envelope) -> None:
    services.customer_order_record_state(
        order_id=uuid.UUID(message.order_id),
        state="CANCELLED",
        at=envelope.occurred_at,
        position=envelope.position or 0,
    )
