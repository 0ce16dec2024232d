"""What the orders module does with messages: credit replies and its two commands."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import cast

from apps.customers.public.messages import (
    CreditLimitExceeded,
    CreditReserved,
    CustomerValidationFailed,
)
from apps.events.public import Envelope, replying_to, subscribe, subscribe_many
from apps.orders import services
from apps.orders.models import Order
from apps.orders.public.messages import CancelOrder, PlaceOrder, RejectionReason

logger = logging.getLogger(__name__)


CreditReply = CreditReserved | CreditLimitExceeded | CustomerValidationFailed


@subscribe_many(CreditReserved, CreditLimitExceeded, CustomerValidationFailed)
def decide(envelopes: Sequence[Envelope]) -> None:
    services.order_decide_many(decisions=[_decision(envelope) for envelope in envelopes])


def _decision(envelope: Envelope) -> services.CreditDecision:
    message = cast(CreditReply, envelope.message())
    order_id, context = uuid.UUID(message.order_id), replying_to(envelope)
    if isinstance(message, CreditReserved):
        return services.CreditDecision(order_id=order_id, approved=True, context=context)
    reason: RejectionReason = (
        "INSUFFICIENT_CREDIT" if isinstance(message, CreditLimitExceeded) else "UNKNOWN_CUSTOMER"
    )
    return services.CreditDecision(
        order_id=order_id, approved=False, reason=reason, context=context
    )


@subscribe(PlaceOrder)
def place(message: PlaceOrder, envelope: Envelope) -> None:
    services.order_place(
        order_id=uuid.UUID(message.order_id),
        customer_id=uuid.UUID(message.customer_id),
        lines=[
            services.LineInput(
                sku=line.sku, quantity=line.quantity, unit_price=Decimal(line.unit_price)
            )
            for line in message.lines
        ],
        origin=uuid.UUID(message.origin) if message.origin else None,
    )


@subscribe(CancelOrder)
def cancel(message: CancelOrder, envelope: Envelope) -> None:
    order_id = uuid.UUID(message.order_id)
    try:
        services.order_cancel(order_id=order_id, for_origin=True)  # the owning saga asks
    except services.OrderAlreadyFinal:
        pass  # cancelling a rejected or cancelled order: nothing left to undo
    except Order.DoesNotExist:
        logger.warning("CancelOrder before PlaceOrder for %s: it will be born cancelled", order_id)
        services.order_cancel_early(order_id=order_id)
