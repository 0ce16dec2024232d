"""Subscribers: who handles which messages, on which module's database.

A subscriber has a name, a module (its checkpoint and its effects live in that
module's schema and commit together) and handlers per message type. Handlers
are thin: they call the module's services.

    @subscribe(OrderPlaced)                       # the module's own subscriber,
    def on_order_placed(message, envelope): ...   # named after the module

    order_history = projection("customers.order_history", module="customers",
                               reset=order_history_reset)

    @order_history.handles(OrderPlaced)
    def record_order(message, envelope): ...

    @subscribe_many(CreditReserved, CreditLimitExceeded)   # a run of these in a batch,
    def decide(envelopes): ...                             # in one call (hot paths)

A projection only builds a read model: it may not publish, and it can be
rebuilt from the store (`replay_events --rebuild`). A subscriber that publishes
(a saga step) is never replayed, so replay never re-sends a command.
Every command has exactly one handler, in the module it is named after; a
second registration fails at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.events.public.envelope import Envelope
from apps.events.public.messages import Message, module_of, registry
from project.topology import MODULES

M = TypeVar("M", bound=Message)
Handler = Callable[[Any, Envelope], None]
BatchHandler = Callable[[Sequence[Envelope]], None]
# Called with each run of consecutive envelopes of its types, in store order.
GroupHandler = Callable[[Sequence[Envelope]], None]
ALL_TYPES = "*"


@dataclass(eq=False)
class Subscriber:
    name: str
    module: str
    publishes: bool = True
    reset: Callable[[], None] | None = None
    # Removes what messages from a position on built, for a part-way rebuild.
    reset_from: Callable[[int], None] | None = None
    # False: not kicked after each relay; the beat sweep catches it up (for
    # read models that may lag a few seconds, such as statistics).
    kicked: bool = True
    # Seconds between its runs under load (None: EVENTS_KICK_PACE_SECONDS). A
    # read model off the sagas' path can run less often: fewer, larger batches,
    # and the saga steps queued behind it wait less.
    pace: float | None = None
    handlers: dict[str, Handler] = field(default_factory=dict)
    batch_handler: BatchHandler | None = None
    batch_types: frozenset[str] | None = None  # None with a batch handler: every type
    group_handlers: dict[str, GroupHandler] = field(default_factory=dict)
    # Per message type: the field that must be set (not null, missing or "") for
    # a message of its current version to be read at all (`handles(only_if_set=)`).
    only_if_set: dict[str, str] = field(default_factory=dict)

    @property
    def is_projection(self) -> bool:
        return not self.publishes

    def handles(
        self, message_class: type[M], *, only_if_set: str | None = None
    ) -> Callable[[Handler], Handler]:
        """Register a handler for one message type.

        `only_if_set="field"`: messages whose `field` is empty (null, missing or
        "") are not even read from the store; the filter runs in its query. It
        only saves work: the handler must still do nothing with such messages,
        which reach it all the same when they are of an older version (the
        filter reads the stored payload, before upcasting, so it leaves older
        versions alone), when a parked one is retried, or from a worker still on
        code without the filter during a deploy.
        """

        def register(handler: Handler) -> Handler:
            subscribers.add_handler(self, message_class, handler, only_if_set=only_if_set)
            return handler

        return register

    def handles_many(
        self, *message_classes: type[Message]
    ) -> Callable[[GroupHandler], GroupHandler]:
        """Register one function for several types, called with whole runs of them.

        For hot paths: the function reads and locks what a run needs in a few
        statements instead of a few per message. It must do exactly what
        handling the envelopes one by one, in order, would do.
        """

        def register(function: GroupHandler) -> GroupHandler:
            for message_class in message_classes:
                subscribers.add_handler(self, message_class, function, group=True)
            return function

        return register

    def handles_batch(
        self, types: Sequence[type[Message]] | str = ALL_TYPES
    ) -> Callable[[BatchHandler], BatchHandler]:
        """Register one function that applies a whole batch (fast projections)."""

        def register(function: BatchHandler) -> BatchHandler:
            if self.batch_handler is not None or self.handlers or self.group_handlers:
                raise ImproperlyConfigured(f"{self.name} already has handlers")
            self.batch_handler = function
            self.batch_types = (
                None if types == ALL_TYPES else frozenset(t.message_type for t in types)  # type: ignore[union-attr]
            )
            return function

        return register

    def wants(self, message_type: str) -> bool:
        if self.batch_handler is not None:
            return self.batch_types is None or message_type in self.batch_types
        return message_type in self.handlers or message_type in self.group_handlers

    def types(self) -> list[str] | None:
        """The message types it reads, or None for all."""
        if self.batch_handler is not None:
            return None if self.batch_types is None else sorted(self.batch_types)
        return sorted({*self.handlers, *self.group_handlers})

    def kicked_by(self, seen: set[str]) -> bool:
        """Whether a relay that moved `seen` has something for it: message types,
        and `type?field` for each `only_if_set` field it found set in one of
        them (`relay._kick_keys`)."""
        for message_type in seen:
            if self.wants(message_type):
                field_name = self.only_if_set.get(message_type)
                if field_name is None or f"{message_type}?{field_name}" in seen:
                    return True
        return False

    def skips_unset(self) -> list[tuple[str, int, str]]:
        """(message type, its current version, field) for each `only_if_set`."""
        return [
            (message_type, registry.class_for(message_type).version, field_name)
            for message_type, field_name in sorted(self.only_if_set.items())
        ]


class SubscriberRegistry:
    def __init__(self) -> None:
        self._subscribers: dict[str, Subscriber] = {}
        self._command_handlers: dict[str, str] = {}

    def declare(
        self,
        name: str,
        *,
        module: str,
        publishes: bool,
        reset: Callable[[], None] | None = None,
    ) -> Subscriber:
        if module not in MODULES:
            raise ImproperlyConfigured(f"subscriber {name}: {module!r} is not a module")
        existing = self._subscribers.get(name)
        if existing is not None:
            if (existing.module, existing.publishes) != (module, publishes):
                raise ImproperlyConfigured(f"subscriber {name} is declared twice, differently")
            return existing
        if not publishes and reset is None:
            raise ImproperlyConfigured(f"projection {name} must say how to reset its read model")
        subscriber = Subscriber(name=name, module=module, publishes=publishes, reset=reset)
        self._subscribers[name] = subscriber
        return subscriber

    def add_handler(
        self,
        subscriber: Subscriber,
        message_class: type[Message],
        handler: Handler | GroupHandler,
        *,
        group: bool = False,
        only_if_set: str | None = None,
    ) -> None:
        message_type = message_class.message_type
        if only_if_set is not None and not _empty_unless_set(message_class, only_if_set):
            raise ImproperlyConfigured(
                f"{subscriber.name}: only_if_set={only_if_set!r} must name a text field of"
                f" {message_type} (str or str | None) that is required or empty by default,"
                " on a class without validators: what the store calls empty must decode empty"
            )
        if subscriber.batch_handler is not None:
            raise ImproperlyConfigured(f"{subscriber.name} has a batch handler already")
        registered = subscriber.handlers.get(message_type) or subscriber.group_handlers.get(
            message_type
        )
        if registered is not None and registered is not handler:
            raise ImproperlyConfigured(f"{subscriber.name} handles {message_type} twice")
        if registered is not None and subscriber.only_if_set.get(message_type) != only_if_set:
            raise ImproperlyConfigured(
                f"{subscriber.name} handles {message_type} with two different only_if_set"
            )
        if message_class.kind == "command":
            owner = self._command_handlers.get(message_type)
            if owner is not None and owner != subscriber.name:
                raise ImproperlyConfigured(
                    f"command {message_type} already has a handler in {owner}; "
                    "a command goes to exactly one handler"
                )
            if module_of(message_type) != subscriber.module:
                raise ImproperlyConfigured(
                    f"command {message_type} must be handled by {module_of(message_type)}, "
                    f"not {subscriber.module}"
                )
            self._command_handlers[message_type] = subscriber.name
        # `group` says which of the two the handler is (both are callables).
        if group:
            subscriber.group_handlers[message_type] = cast(GroupHandler, handler)
        else:
            subscriber.handlers[message_type] = cast(Handler, handler)
        if only_if_set is not None:
            subscriber.only_if_set[message_type] = only_if_set

    def get(self, name: str) -> Subscriber:
        try:
            return self._subscribers[name]
        except KeyError:
            known = ", ".join(sorted(self._subscribers)) or "none"
            raise KeyError(f"no subscriber {name!r} (known: {known})") from None

    def all(self) -> list[Subscriber]:
        return [self._subscribers[name] for name in sorted(self._subscribers)]

    def command_handler_for(self, message_type: str) -> str | None:
        return self._command_handlers.get(message_type)


subscribers = SubscriberRegistry()


def module_subscriber(module: str) -> Subscriber:
    """The module's own subscriber (it may publish: saga steps, reactions)."""
    return subscribers.declare(module, module=module, publishes=True)


def projection(
    name: str,
    *,
    module: str,
    reset: Callable[[], None],
    reset_from: Callable[[int], None] | None = None,
    kicked: bool = True,
    pace: float | None = None,
) -> Subscriber:
    """A read model built from messages; `reset` clears it for a rebuild.

    `reset_from(position)`, if given, removes just what messages from
    `position` on built, so that it can be rebuilt part-way. `kicked=False`:
    caught up by the beat sweep only (every EVENTS_SWEEP_SECONDS), not after
    every relay; for read models that may lag, it saves a task per relay.
    `pace`: under load it runs at most once per `pace` seconds (by default
    EVENTS_KICK_PACE_SECONDS); when idle it still runs at once.
    """
    ttl = float(getattr(settings, "EVENTS_KICK_TTL_SECONDS", 5.0))
    if pace is not None and not 0 <= pace < ttl:
        # The doorbell flag must outlive the wait for the paced task, or a second
        # task is sent meanwhile.
        raise ImproperlyConfigured(
            f"{name}: pace must be at least 0 and below EVENTS_KICK_TTL_SECONDS ({ttl})"
        )
    subscriber = subscribers.declare(name, module=module, publishes=False, reset=reset)
    subscriber.reset_from = reset_from
    subscriber.kicked = kicked
    subscriber.pace = pace
    return subscriber


def subscribe(
    message_class: type[M], *, module: str | None = None, only_if_set: str | None = None
) -> Callable[[Handler], Handler]:
    """Register a handler on the module's own subscriber (`only_if_set`: see
    `Subscriber.handles`).

    The module is taken from where the handler is defined (`apps.<module>.handlers`).
    """

    def register(handler: Handler) -> Handler:
        owner = module or _module_of_code(handler)
        return module_subscriber(owner).handles(message_class, only_if_set=only_if_set)(handler)

    return register


def _empty_unless_set(message_class: type[Message], name: str) -> bool:
    """Whether a payload whose `name` is null, missing or "" decodes with it empty
    (or fails): a text field, required or empty by default, with no validator to
    fill it in. Only then can the store's query leave such messages unread."""
    if registry.class_for(message_class.message_type) is not message_class:
        return False  # the filter follows the registered class
    found = message_class.model_fields.get(name)
    return (
        found is not None
        and found.annotation in (str, str | None)
        and found.default_factory is None
        and (found.is_required() or found.default in (None, ""))
        and not _validators(message_class)
    )


def _validators(message_class: type[Message]) -> bool:
    decorators = message_class.__pydantic_decorators__
    return bool(
        decorators.validators
        or decorators.field_validators
        or decorators.root_validators
        or decorators.model_validators
    )


def subscribe_many(
    *message_classes: type[Message], module: str | None = None
) -> Callable[[GroupHandler], GroupHandler]:
    """Register a group handler (see `Subscriber.handles_many`) on the module's subscriber."""

    def register(handler: GroupHandler) -> GroupHandler:
        owner = module or _module_of_code(handler)
        return module_subscriber(owner).handles_many(*message_classes)(handler)

    return register


def _module_of_code(handler: Handler | GroupHandler) -> str:
    parts = handler.__module__.split(".")
    if len(parts) >= 2 and parts[0] == "apps" and parts[1] in MODULES:
        return parts[1]
    raise ImproperlyConfigured(
        f"{handler.__qualname__}: say which module it belongs to (module=...)"
    )
