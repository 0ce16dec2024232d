"""The public face of the event platform: messages, publishing and subscribing.

Every module imports these from here and nothing else from `apps.events`:

- `Event`, `Command`, `MessagePart`, `upcaster`: declaring integration messages;
- `publish`: writing a message to the module's outbox, in its transaction
  (`publishing_in_statement` for a change written as one SQL statement);
- `subscribe`, `projection`, `Envelope`: handling messages, exactly once;
- `OutboxMessage`, `SubscriberCheckpoint`, `ParkedMessage` (in `records`): the
  tables a module declares to take part.
"""

from apps.events.public.context import (
    MessageContext,
    current_context,
    message_context,
    replying_to,
)
from apps.events.public.envelope import Envelope
from apps.events.public.messages import (
    Command,
    Event,
    Message,
    MessageError,
    MessagePart,
    registry,
    upcaster,
)
from apps.events.public.publishing import (
    OutboxInsert,
    PublishOutsideTransaction,
    publish,
    publishing_in_statement,
)
from apps.events.public.subscriptions import (
    Subscriber,
    module_subscriber,
    projection,
    subscribe,
    subscribe_many,
    subscribers,
)

__all__ = [
    "Command",
    "Envelope",
    "Event",
    "Message",
    "MessageContext",
    "MessageError",
    "MessagePart",
    "OutboxInsert",
    "PublishOutsideTransaction",
    "Subscriber",
    "current_context",
    "message_context",
    "module_subscriber",
    "projection",
    "publish",
    "publishing_in_statement",
    "registry",
    "replying_to",
    "subscribe",
    "subscribe_many",
    "subscribers",
    "upcaster",
]
