"""Output shapes every module's API shares."""

from __future__ import annotations

from rest_framework import serializers


class SagaMessageOutput(serializers.Serializer):
    """One message of a saga's timeline (`GET .../{id}/events/`)."""

    type = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    payload = serializers.DictField()
