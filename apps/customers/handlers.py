"""What the customers module does with other modules' messages. Thin: services do it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import cast

from apps.customers import services
from apps.events.public import Envelope, projection, replying_to, subscribe, subscribe_many
from apps.orders.public.messages import (
    OrderApproved,
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
)


@subscribe_many(OrderPlaced)
def reserve_credit(envelopes: Sequence[Envelope]) -> None:
    requests = []
    for envelope in envelopes:
        message = cast(OrderPlaced, envelope.message())
        requests.append(
            services.CreditRequest(
                order_id=uuid.UUID(message.order_id),
                customer_id=uuid.UUID(message.customer_id),
                amount=Decimal(message.total),
                context=replying_to(envelope),
            )
        )
    services.credit_reserve_many(requests=requests)


@subscribe(OrderCancelled)
def release_credit(message: OrderCancelled, envelope: Envelope) -> None:
    services.credit_release(
        order_id=uuid.UUID(message.order_id), customer_id=uuid.UUID(message.customer_id)
    )


# Off the sagas' path: under load it runs on larger batches, at most every
# 150 ms, so that the credit checks queued behind it wait less (docs/benchmarks.md).
order_history = projection(
    "customers.order_history",
    module="customers",
    reset=services.customer_order_history_reset,
    pace=0.15,
)


OrderEvent = OrderPlaced | OrderApproved | OrderRejected | OrderCancelled
_STATES: dict[type, str] = {
    OrderPlaced: "PENDING",
    OrderApproved: "APPROVED",
    OrderRejected: "REJECTED",
    OrderCancelled: "CANCELLED",
}


@order_history.handles_batch([OrderPlaced, OrderApproved, OrderRejected, OrderCancelled])
def record_orders(envelopes: Sequence[Envelope]) -> None:
    services.customer_orders_apply(changes=[_history_change(envelope) for envelope in envelopes])


def _history_change(envelope: Envelope) -> services.OrderHistoryChange:
    message = cast(OrderEvent, envelope.message())
    return services.OrderHistoryChange(
        order_id=uuid.UUID(message.order_id),
        state=_STATES[type(message)],
        at=envelope.occurred_at,
        position=envelope.position or 0,
        customer_id=uuid.UUID(message.customer_id) if isinstance(message, OrderPlaced) else None,
        total=Decimal(message.total) if isinstance(message, OrderPlaced) else None,
        reason=message.reason if isinstance(message, OrderRejected) else "",
    )
