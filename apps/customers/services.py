"""Commands of the customers module: registering customers and keeping the credit ledger.

Every command runs in one transaction on the `customers` alias, and publishes
what it did in that same transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from apps.customers.models import CreditReservation, Customer, CustomerOrder
from apps.customers.public.messages import (
    CreditLimitExceeded,
    CreditReleased,
    CreditReserved,
    CustomerRegistered,
    CustomerUpdated,
    CustomerValidationFailed,
)
from apps.customers.selectors import customer_reserved_credit
from apps.events.public import publish

ALIAS = "customers"
VIEW_PERMISSION = "customers.view_customer"


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def customer_register(
    *,
    name: str,
    email: str,
    region: str,
    credit_limit: Decimal,
    owner: object | None = None,
) -> Customer:
    """Register a customer; `owner` (a user) then sees it and places its orders.

    The object permission is a row in `platform`, another database: it is
    written after the customer, and if the customer's transaction then rolls
    back, a grant on an object that does not exist is left, which shows nothing.
    """
    with transaction.atomic(using=ALIAS):
        if Customer.objects.using(ALIAS).filter(email__iexact=email).exists():
            raise ValidationError({"email": ["A customer with this email already exists."]})
        customer = Customer.objects.using(ALIAS).create(
            name=name,
            email=email.lower(),
            region=region,
            credit_limit=credit_limit,
            owner_user_id=getattr(owner, "pk", None),
        )
        publish(
            CustomerRegistered(
                customer_id=str(customer.id),
                name=customer.name,
                email=customer.email,
                region=customer.region,
                credit_limit=_money(customer.credit_limit),
            ),
            source=ALIAS,
        )
    if owner is not None:
        assign_perm(VIEW_PERMISSION, owner, customer)
    return customer


def customer_update(
    *, customer_id: uuid.UUID, region: str | None = None, credit_limit: Decimal | None = None
) -> Customer:
    """Change region or credit limit; a limit below what is reserved is refused.

    Takes the customer's row lock, like a reservation, so the two cannot race.
    """
    with transaction.atomic(using=ALIAS):
        customer = Customer.objects.using(ALIAS).select_for_update().get(pk=customer_id)
        if credit_limit is not None:
            reserved = customer_reserved_credit(customer_id=customer.id)
            if credit_limit < reserved:
                raise ValidationError(
                    {"credit_limit": [f"{_money(reserved)} is reserved by open orders."]}
                )
            customer.credit_limit = credit_limit
        if region is not None:
            customer.region = region
        customer.save(using=ALIAS)
        publish(
            CustomerUpdated(
                customer_id=str(customer.id),
                region=customer.region,
                credit_limit=_money(customer.credit_limit),
            ),
            source=ALIAS,
        )
    return customer


def credit_reserve(*, order_id: uuid.UUID, customer_id: uuid.UUID, amount: Decimal) -> None:
    """Reserve credit for an order, or say why not. Idempotent per order.

    Locks the customer's row (SELECT FOR UPDATE) while it sums the open
    reservations, so concurrent orders can never overdraw the limit.
    """
    with transaction.atomic(using=ALIAS):
        if CreditReservation.objects.using(ALIAS).filter(order_id=order_id).exists():
            return  # reserved already, or the order was cancelled first
        customer = Customer.objects.using(ALIAS).select_for_update().filter(pk=customer_id).first()
        if customer is None:
            publish(
                CustomerValidationFailed(
                    order_id=str(order_id), customer_id=str(customer_id), reason="UNKNOWN_CUSTOMER"
                ),
                source=ALIAS,
            )
            return
        available = customer.credit_limit - customer_reserved_credit(customer_id=customer.id)
        if amount > available:
            publish(
                CreditLimitExceeded(
                    order_id=str(order_id),
                    customer_id=str(customer.id),
                    amount=_money(amount),
                    available_credit=_money(available),
                ),
                source=ALIAS,
            )
            return
        CreditReservation.objects.using(ALIAS).create(
            order_id=order_id, customer=customer, amount=amount
        )
        publish(
            CreditReserved(
                order_id=str(order_id),
                customer_id=str(customer.id),
                amount=_money(amount),
                available_credit=_money(available - amount),
            ),
            source=ALIAS,
        )


def credit_release(*, order_id: uuid.UUID, customer_id: uuid.UUID) -> None:
    """Give back a cancelled order's reservation (the compensation). Idempotent.

    If the cancel overtook the reservation, a VOID entry makes sure a late
    OrderPlaced for the order reserves nothing.
    """
    with transaction.atomic(using=ALIAS):
        customer = Customer.objects.using(ALIAS).select_for_update().filter(pk=customer_id).first()
        if customer is None:
            return  # an unknown customer never held credit
        reservation = (
            CreditReservation.objects.using(ALIAS)
            .select_for_update()
            .filter(order_id=order_id)
            .first()
        )
        if reservation is None:
            reservation = CreditReservation.objects.using(ALIAS).create(
                order_id=order_id,
                customer=customer,
                amount=Decimal("0.00"),
                state=CreditReservation.State.VOID,
                released_at=timezone.now(),
            )
        elif reservation.state == CreditReservation.State.OPEN:
            reservation.state = CreditReservation.State.RELEASED
            reservation.released_at = timezone.now()
            reservation.save(using=ALIAS, update_fields=["state", "released_at"])
        else:
            return  # released already
        available = customer.credit_limit - customer_reserved_credit(customer_id=customer.id)
        publish(
            CreditReleased(
                order_id=str(order_id),
                customer_id=str(customer.id),
                amount=_money(reservation.amount),
                available_credit=_money(available),
            ),
            source=ALIAS,
        )


# --- The order-history read model (the `customers.order_history` projection) ---


def customer_order_history_reset() -> None:
    CustomerOrder.objects.using(ALIAS).all().delete()


def customer_order_record_placed(
    *, order_id: uuid.UUID, customer_id: uuid.UUID, total: Decimal, at: datetime, position: int
) -> None:
    CustomerOrder.objects.using(ALIAS).update_or_create(
        order_id=order_id,
        defaults={
            "customer_id": customer_id,
            "state": "PENDING",
            "total": total,
            "placed_at": at,
            "updated_at": at,
            "last_position": position,
        },
    )


def customer_order_record_state(
    *, order_id: uuid.UUID, state: str, reason: str = "", at: datetime, position: int
) -> None:
    CustomerOrder.objects.using(ALIAS).filter(order_id=order_id).update(
        state=state, rejection_reason=reason, updated_at=at, last_position=position
    )
