"""Commands of the event platform: relay, delivery, parking and retry, replay.

See docs/events.md for the guarantees and how each is kept.
"""

from apps.events.services.delivery import (
    DeliveryReport,
    RetryReport,
    backoff_seconds,
    parked_retry,
    run_handlers,
    subscriber_deliver,
    subscribers_deliver_all,
)
from apps.events.services.relay import (
    STORE_WRITER_LOCK,
    RelayPass,
    outbox_pending,
    outbox_relay,
    outbox_relay_pass,
    outbox_retention_sweep,
    outboxes_relay_all,
)
from apps.events.services.replay import ReplayRefused, subscriber_rewind
from apps.events.services.type_stats import message_type_stats_apply, message_type_stats_reset

__all__ = [
    "STORE_WRITER_LOCK",
    "DeliveryReport",
    "RelayPass",
    "ReplayRefused",
    "RetryReport",
    "backoff_seconds",
    "message_type_stats_apply",
    "message_type_stats_reset",
    "outbox_pending",
    "outbox_relay",
    "outbox_relay_pass",
    "outbox_retention_sweep",
    "outboxes_relay_all",
    "parked_retry",
    "run_handlers",
    "subscriber_deliver",
    "subscriber_rewind",
    "subscribers_deliver_all",
]
