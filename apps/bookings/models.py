"""Models of the bookings module, stored in the `bookings` schema.

References to other modules' objects are plain UUID columns, never foreign keys.
"""

from apps.events.public.records import OutboxMessage, ParkedMessage, SubscriberCheckpoint


class Outbox(OutboxMessage):
    """Messages this module published, waiting for the relay."""


class Checkpoint(SubscriberCheckpoint):
    """How far each of this module's subscribers has read the event store."""


class Parked(ParkedMessage):
    """Messages this module's subscribers gave up on; retried by an operator."""
