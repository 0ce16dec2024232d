"""Commands of the customers module: registering customers and keeping the credit ledger.

Every command runs in one transaction on the `customers` alias, and publishes
what it did in that same transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
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
from apps.customers.selectors import customers_with_total_off_ledger
from apps.events.public import MessageContext, publish
from project.bulk import rows_copy, rows_update, rows_upsert

logger = logging.getLogger(__name__)
ALIAS = "customers"
_OPEN = CreditReservation.State.OPEN
VIEW_PERMISSION = "customers.view_customer"


def _money(amount: Decimal) -> str:
    # "0.00" for a -0 too, as the stored numeric (which has no negative zero) reads.
    return f"{amount.copy_abs() if amount.is_zero() else amount:.2f}"


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
    written inside the customer's transaction, just before that commits, so
    that a grant that fails leaves no customer behind (nor its message). If the
    customer's commit then fails, a grant on an object that does not exist is
    left, which shows nothing.
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
            if credit_limit < customer.reserved_credit:
                raise ValidationError(
                    {
                        "credit_limit": [
                            f"{_money(customer.reserved_credit)} is reserved by open orders."
                        ]
                    }
                )
            customer.credit_limit = credit_limit
        if region is not None:
            customer.region = region
        # Only what this changes: reserved_credit is the credit runs' to write.
        customer.save(using=ALIAS, update_fields=["region", "credit_limit", "updated_at"])
        publish(
            CustomerUpdated(
                customer_id=str(customer.id),
                region=customer.region,
                credit_limit=_money(customer.credit_limit),
            ),
            source=ALIAS,
        )
    return customer


@dataclass(frozen=True)
class CreditRequest:
    """One order's call on its customer's credit (from an OrderPlaced)."""

    order_id: uuid.UUID
    customer_id: uuid.UUID
    amount: Decimal
    # Whose answer this is (correlation and cause); None: the context in force.
    context: MessageContext | None = None


def credit_reserve(*, order_id: uuid.UUID, customer_id: uuid.UUID, amount: Decimal) -> None:
    """Reserve credit for an order, or say why not. Idempotent per order."""
    credit_reserve_many(
        requests=[CreditRequest(order_id=order_id, customer_id=customer_id, amount=amount)]
    )


def credit_reserve_many(*, requests: Sequence[CreditRequest]) -> None:
    """Decide a run of credit requests in order, as one by one would, in a few statements.

    Locks the customers' rows (SELECT FOR UPDATE, in id order so two runs never
    deadlock) before it reads their reserved credit, so concurrent orders can
    never overdraw a limit; each customer's running total (`reserved_credit`)
    moves with its new reservations, in the same transaction. An order that
    has a reservation already (reserved, or cancelled first: VOID) is skipped:
    idempotent per order.
    """
    if not requests:
        return
    with transaction.atomic(using=ALIAS):
        customers = {
            customer.id: customer
            for customer in Customer.objects.using(ALIAS)
            .select_for_update()
            .filter(pk__any={r.customer_id for r in requests})
            .only("id", "credit_limit", "reserved_credit")  # all a decision reads
            .order_by("pk")
        }
        # Read under the locks: a release (VOID) written meanwhile is seen.
        decided = set(
            CreditReservation.objects.using(ALIAS)
            .filter(order_id__any={r.order_id for r in requests})
            .values_list("order_id", flat=True)
        )
        reserved = {customer.id: customer.reserved_credit for customer in customers.values()}
        now = timezone.now()
        reservations: list[tuple[object, ...]] = []
        for request in requests:
            if request.order_id in decided:
                continue
            reply = _credit_decide(request, customers.get(request.customer_id), reserved)
            if isinstance(reply, CreditReserved):
                decided.add(request.order_id)  # as its reservation row would say
                reservations.append(
                    (request.order_id, request.customer_id, request.amount, _OPEN, now)
                )
            publish(reply, source=ALIAS, context=request.context)
        rows_copy(
            CreditReservation,
            using=ALIAS,
            fields=("order_id", "customer", "amount", "state", "created_at"),
            rows=reservations,
        )
        rows_update(
            Customer,
            using=ALIAS,
            key="id",
            fields=("reserved_credit",),
            rows=[
                (customer.id, reserved[customer.id])
                for customer in customers.values()
                if reserved[customer.id] != customer.reserved_credit
            ],
        )


def _credit_decide(
    request: CreditRequest, customer: Customer | None, reserved: dict[uuid.UUID, Decimal]
) -> CreditReserved | CreditLimitExceeded | CustomerValidationFailed:
    """The answer to one request; counts a reservation into `reserved`."""
    if customer is None:
        return CustomerValidationFailed(
            order_id=str(request.order_id),
            customer_id=str(request.customer_id),
            reason="UNKNOWN_CUSTOMER",
        )
    available = customer.credit_limit - reserved[customer.id]
    if request.amount > available:
        return CreditLimitExceeded(
            order_id=str(request.order_id),
            customer_id=str(customer.id),
            amount=_money(request.amount),
            available_credit=_money(available),
        )
    reserved[customer.id] += request.amount
    return CreditReserved(
        order_id=str(request.order_id),
        customer_id=str(customer.id),
        amount=_money(request.amount),
        available_credit=_money(available - request.amount),
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
        if reservation is not None and reservation.customer_id != customer.id:
            # Not this customer's order: its owner's row is not the one locked.
            logger.warning(
                "release of order %s names customer %s, but %s holds its reservation",
                order_id, customer.id, reservation.customer_id,
            )  # fmt: skip
            return
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
            customer.reserved_credit -= reservation.amount
            customer.save(using=ALIAS, update_fields=["reserved_credit"])
        else:
            return  # released already
        available = customer.credit_limit - customer.reserved_credit
        publish(
            CreditReleased(
                order_id=str(order_id),
                customer_id=str(customer.id),
                amount=_money(reservation.amount),
                available_credit=_money(available),
            ),
            source=ALIAS,
        )


@dataclass(frozen=True)
class CreditTotalsReconciled:
    set_from_ledger: list[uuid.UUID]  # their totals now equal their ledgers
    over_limit: list[uuid.UUID]  # ledgers beyond the limit: left as they were


def credit_totals_reconcile() -> CreditTotalsReconciled:
    """Set each customer's `reserved_credit` back to what its ledger holds OPEN,
    where the two differ (a reservation written past the services, or by code
    from before the running total).

    Each customer in a transaction of its own, under its row's lock, as a
    credit check: the ledger cannot move between the sum and the write. A
    ledger beyond its limit is left as it is (the constraint would refuse it)
    and reported: its reservations need settling by hand.
    """
    set_from_ledger: list[uuid.UUID] = []
    over_limit: list[uuid.UUID] = []
    off_ledger = customers_with_total_off_ledger().order_by("pk").values_list("pk", flat=True)
    for customer_id in list(off_ledger):
        with transaction.atomic(using=ALIAS):
            customer = (
                Customer.objects.using(ALIAS).select_for_update().filter(pk=customer_id).first()
            )
            if customer is None:
                continue
            ledger = CreditReservation.objects.using(ALIAS).filter(
                customer_id=customer_id, state=_OPEN
            ).aggregate(total=Sum("amount"))["total"] or Decimal("0.00")
            if ledger == customer.reserved_credit:
                continue  # set meanwhile
            if ledger > customer.credit_limit:
                over_limit.append(customer_id)
                continue
            customer.reserved_credit = ledger
            customer.save(using=ALIAS, update_fields=["reserved_credit"])
            set_from_ledger.append(customer_id)
    return CreditTotalsReconciled(set_from_ledger=set_from_ledger, over_limit=over_limit)


# --- The order-history read model (the `customers.order_history` projection) ---


def customer_order_history_reset() -> None:
    CustomerOrder.objects.using(ALIAS).all().delete()


@dataclass(frozen=True)
class OrderHistoryChange:
    """One order event, as the read model sees it: placed (with customer and
    total), or a new state."""

    order_id: uuid.UUID
    state: str
    at: datetime
    position: int
    customer_id: uuid.UUID | None = None  # set when placed
    total: Decimal | None = None  # set when placed
    reason: str = ""


_STATE_FIELDS = ("state", "rejection_reason", "updated_at", "last_position")


def customer_orders_apply(*, changes: Sequence[OrderHistoryChange]) -> None:
    """Apply order events to the read model in order, in two statements.

    An order placed in this run is written whole (replacing a row a replay finds);
    for the others only the last state change counts, and one for an order the
    model never saw placed is ignored.
    """
    placed: dict[uuid.UUID, list[object]] = {}
    moved: dict[uuid.UUID, list[object]] = {}
    for change in changes:
        state = [change.state, change.reason, change.at, change.position]
        if change.customer_id is not None and change.total is not None:
            moved.pop(change.order_id, None)
            placed[change.order_id] = [change.customer_id, change.total, change.at, *state]
        elif change.order_id in placed:
            placed[change.order_id][3:] = state
        else:
            moved[change.order_id] = state
    rows_upsert(
        CustomerOrder,
        using=ALIAS,
        key="order_id",
        fields=("customer_id", "total", "placed_at", *_STATE_FIELDS),
        rows=[(order_id, *row) for order_id, row in placed.items()],
    )
    rows_update(
        CustomerOrder,
        using=ALIAS,
        key="order_id",
        fields=_STATE_FIELDS,
        rows=[(order_id, *row) for order_id, row in moved.items()],
    )
