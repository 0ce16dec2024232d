"""Messages the customers module publishes. Money is a decimal string; ids are UUID strings."""

from __future__ import annotations

from typing import ClassVar, Literal

from apps.events.public import Event


class CustomerRegistered(Event):
    message_type: ClassVar[str] = "customers.CustomerRegistered"
    aggregate_field: ClassVar[str] = "customer_id"

    customer_id: str
    name: str
    email: str
    region: str
    credit_limit: str


class CustomerUpdated(Event):
    message_type: ClassVar[str] = "customers.CustomerUpdated"
    aggregate_field: ClassVar[str] = "customer_id"

    customer_id: str
    region: str
    credit_limit: str


class CreditReserved(Event):
    message_type: ClassVar[str] = "customers.CreditReserved"
    aggregate_field: ClassVar[str] = "order_id"

    order_id: str
    customer_id: str
    amount: str
    available_credit: str


class CreditLimitExceeded(Event):
    message_type: ClassVar[str] = "customers.CreditLimitExceeded"
    aggregate_field: ClassVar[str] = "order_id"

    order_id: str
    customer_id: str
    amount: str
    available_credit: str


class CustomerValidationFailed(Event):
    message_type: ClassVar[str] = "customers.CustomerValidationFailed"
    aggregate_field: ClassVar[str] = "order_id"

    order_id: str
    customer_id: str
    reason: Literal["UNKNOWN_CUSTOMER"]


class CreditReleased(Event):
    """The compensation: a cancelled order's reservation is given back."""

    message_type: ClassVar[str] = "customers.CreditReleased"
    aggregate_field: ClassVar[str] = "order_id"

    order_id: str
    customer_id: str
    amount: str
    available_credit: str
