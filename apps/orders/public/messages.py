"""Messages of the orders module: the events it publishes and the commands it takes.

Money is a decimal string ("12.34"); ids are UUID strings.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from apps.events.public import Command, Event, MessagePart

RejectionReason = Literal["INSUFFICIENT_CREDIT", "UNKNOWN_CUSTOMER"]


class OrderLine(MessagePart):
    sku: str
    quantity: int
    unit_price: str


class OrderPlaced(Event):
    message_type: ClassVar[str] = "orders.OrderPlaced"
    aggregate_field: ClassVar[str] = "order_id"

    order_id: str
    customer_id: str
    total: str
    currency: str
    lines: tuple[OrderLine, ...]
    origin: str | None = None  # the booking that asked for it, if any


class OrderApproved(Event):
    message_type: ClassVar[str] = "orders.OrderApproved"
    aggregate_field: ClassVar[str] = "order_id"

    order_id: str
    customer_id: str
    total: str
    origin: str | None = None


class OrderRejected(Event):
    message_type: ClassVar[str] = "orders.OrderRejected"
    aggregate_field: ClassVar[str] = "order_id"

    order_id: str
    customer_id: str
    reason: RejectionReason
    origin: str | None = None


class OrderCancelled(Event):
    message_type: ClassVar[str] = "orders.OrderCancelled"
    aggregate_field: ClassVar[str] = "order_id"

    order_id: str
    customer_id: str
    total: str
    origin: str | None = None


class PlaceOrder(Command):
    """Place an order on a customer's credit (sent by the booking saga)."""

    message_type: ClassVar[str] = "orders.PlaceOrder"
    aggregate_field: ClassVar[str] = "order_id"

    order_id: str
    customer_id: str
    lines: tuple[OrderLine, ...]
    origin: str | None = None


class CancelOrder(Command):
    message_type: ClassVar[str] = "orders.CancelOrder"
    aggregate_field: ClassVar[str] = "order_id"

    order_id: str
    reason: str = ""
