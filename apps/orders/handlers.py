"""What the orders module does with messages: credit replies and its two commands."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal

from apps.customers.public.messages import (
    CreditLimitExceeded,
    CreditReserved,
    CustomerValidationFailed,
)
from apps.events.public import Envelope, subscribe
from apps.orders import services
from apps.orders.models import Order
from apps.orders.public.messages import CancelOrder, PlaceOrder

logger = logging.getLogger(__name__)


@subscribe(CreditReserved)
def approve(message: CreditReserved, envelope: Envelope) -> None:
    services.order_approve(order_id=uuid.UUID(message.order_id))


@subscribe(CreditLimitExceeded)
def reject_for_credit(message: CreditLimitExceeded, envelope: Envelope) -> None:
    services.order_reject(order_id=uuid.UUID(message.order_id), reason="INSUFFICIENT_CREDIT")


@subscribe(CustomerValidationFailed)
def reject_unknown_customer(message: CustomerValidationFailed, envelope: Envelope) -> None:
    services.order_reject(order_id=uuid.UUID(message.order_id), reason="UNKNOWN_CUSTOMER")


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
        services.order_cancel(order_id=order_id)
    except services.OrderAlreadyFinal:
        pass  # cancelling a rejected or cancelled order: nothing left to undo
    except Order.DoesNotExist:
        logger.warning("CancelOrder before PlaceOrder for %s: it will be born cancelled", order_id)
        services.order_cancel_early(order_id=order_id)
