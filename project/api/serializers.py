"""Output shapes every module's API shares."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers


class MoneyField(serializers.DecimalField):
    """An amount of money, as every module's API reads and shows it: at most 12
    digits, 2 of them decimal, shown as a string.

    A zero is read as 0.00, never -0.00 ("-0" passes `min_value=0`): PostgreSQL's
    numeric has no negative zero, so an amount echoed or published as "-0.00"
    would differ from the one stored and read back.
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_digits=12, decimal_places=2, coerce_to_string=True, **kwargs)

    def to_internal_value(self, data: object) -> Decimal:
        value = super().to_internal_value(data)
        return value.copy_abs() if value.is_zero() else value


class SagaMessageOutput(serializers.Serializer):
    """One message of a saga's timeline (`GET .../{id}/events/`)."""

    type = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    payload = serializers.DictField()
