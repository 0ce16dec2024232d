"""Integration messages: strict, versioned, primitive-only contracts between modules.

A message class names its stable type and version; the registry knows every
one of them. Events (`<module>.<PastTenseVerb>`) fan out to every subscriber;
commands (`<module>.<ImperativeVerb>`) go to the one module their name begins
with. Payloads are JSON primitives only (str, int, float, bool, None, lists and
nested `MessagePart`s of those): ids and money travel as strings.

    class OrderPlaced(Event):
        message_type: ClassVar[str] = "orders.OrderPlaced"
        version: ClassVar[int] = 2
        aggregate_field: ClassVar[str] = "order_id"

        order_id: str
        total: str

    @upcaster("orders.OrderPlaced", from_version=1)
    def order_placed_v1_to_v2(payload: dict) -> dict: ...

A type name, once used, is never reused: retire it in `RETIRED_MESSAGE_TYPES`.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Callable
from functools import lru_cache
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from project.topology import MODULES

JsonObject = dict[str, Any]
Upcaster = Callable[[JsonObject], JsonObject]

# Type names that were used once and must never be used again, with the reason.
RETIRED_MESSAGE_TYPES: dict[str, str] = {}

_TYPE_NAME = re.compile(r"^(?P<module>[a-z_]+)\.(?P<name>[A-Z][A-Za-z0-9]+)$")
_PRIMITIVES: tuple[type, ...] = (str, int, float, bool, type(None))


class MessageError(Exception):
    """A message class or payload breaks the messaging rules."""


class MessagePart(BaseModel):
    """A nested value inside a message (an order line, a seat): primitives only."""

    # An instance of a subclass, with fields of its own, is validated again as
    # the part the field names (and refused): it would lose them in the JSON.
    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True, revalidate_instances="subclass-instances"
    )


class Message(BaseModel):
    """Base of every integration message. Subclass `Event` or `Command`, not this."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    kind: ClassVar[Literal["event", "command"]]
    message_type: ClassVar[str]
    version: ClassVar[int] = 1
    aggregate_field: ClassVar[str]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "message_type" in cls.__dict__:
            registry.register(cls)

    @property
    def owning_module(self) -> str:
        return module_of(self.message_type)

    @property
    def aggregate_id(self) -> str:
        return str(getattr(self, self.aggregate_field))


class Event(Message):
    """Something that happened; published by the module it names, fanned out to all."""

    kind: ClassVar[Literal["event", "command"]] = "event"


class Command(Message):
    """A request to the module it names; exactly one handler, in that module."""

    kind: ClassVar[Literal["event", "command"]] = "command"


@lru_cache(maxsize=1024)  # asked on every publish, of a class's own type name
def module_of(message_type: str) -> str:
    match = _TYPE_NAME.match(message_type)
    if not match:
        raise MessageError(f"{message_type!r} is not of the form '<module>.<Name>'")
    return match["module"]


def _check_primitive(owner: str, annotation: Any) -> None:
    origin = typing.get_origin(annotation)
    if origin is None:
        if annotation in _PRIMITIVES:
            return
        if isinstance(annotation, type) and issubclass(annotation, MessagePart):
            for name, field in annotation.model_fields.items():
                _check_primitive(f"{owner}.{name}", field.annotation)
            return
        raise MessageError(f"{owner}: {annotation!r} is not a JSON primitive or MessagePart")
    if origin is Literal:
        if all(isinstance(v, _PRIMITIVES) for v in typing.get_args(annotation)):
            return
        raise MessageError(f"{owner}: Literal values must be primitives")
    if origin in (list, tuple, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not Ellipsis:
                _check_primitive(owner, arg)
        return
    raise MessageError(f"{owner}: {annotation!r} is not allowed in a message")


# What every message's configuration holds (Message's and MessagePart's).
_BASE_CONFIG = {"frozen": True, "extra": "forbid", "strict": True}


class MessageRegistry:
    """Every message type the system knows, and the upcasters for their old versions."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Message]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, cls: type[Message]) -> None:
        name = cls.message_type
        module = module_of(name)
        if module not in MODULES:
            raise MessageError(f"{name}: {module!r} is not a module")
        if name in RETIRED_MESSAGE_TYPES:
            raise MessageError(
                f"{name} was retired ({RETIRED_MESSAGE_TYPES[name]}); pick a new name"
            )
        existing = self._classes.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise MessageError(f"{name} is already {existing.__module__}.{existing.__qualname__}")
        if not isinstance(cls.version, int) or cls.version < 1:
            raise MessageError(f"{name}: version must be a positive integer")
        if any(cls.model_config.get(key) != value for key, value in _BASE_CONFIG.items()):
            raise MessageError(f"{name}: a message is frozen, strict and forbids extra fields")
        if cls.aggregate_field not in cls.model_fields:
            raise MessageError(f"{name}: aggregate_field {cls.aggregate_field!r} is not a field")
        for field_name, field in cls.model_fields.items():
            _check_primitive(f"{name}.{field_name}", field.annotation)
        self._classes[name] = cls

    def upcaster(self, message_type: str, *, from_version: int) -> Callable[[Upcaster], Upcaster]:
        def register(function: Upcaster) -> Upcaster:
            key = (message_type, from_version)
            if key in self._upcasters:
                raise MessageError(f"two upcasters for {message_type} v{from_version}")
            self._upcasters[key] = function
            return function

        return register

    def class_for(self, message_type: str) -> type[Message]:
        try:
            return self._classes[message_type]
        except KeyError:
            raise MessageError(f"unknown message type {message_type!r}") from None

    def known_types(self) -> dict[str, type[Message]]:
        return dict(self._classes)

    def upcast(self, message_type: str, version: int, payload: JsonObject) -> JsonObject:
        """An old version's payload, brought up to the current version step by step."""
        current = self.class_for(message_type).version
        if version > current:
            raise MessageError(f"{message_type} v{version} is newer than this code (v{current})")
        while version < current:
            step = self._upcasters.get((message_type, version))
            if step is None:
                raise MessageError(f"no upcaster for {message_type} from v{version}")
            payload = step(dict(payload))
            version += 1
        return payload

    def decode(self, message_type: str, version: int, payload: JsonObject) -> Message:
        cls = self.class_for(message_type)
        upcast = self.upcast(message_type, version, payload)
        try:
            return cls.model_validate(upcast, strict=False)
        except ValidationError as exc:
            raise MessageError(f"{message_type} v{version} payload is invalid: {exc}") from exc

    def decode_json(self, message_type: str, version: int, payload_json: str) -> Message:
        """Like `decode`, from JSON text; the current version is parsed by pydantic-core."""
        cls = self.class_for(message_type)
        if version != cls.version:
            return self.decode(message_type, version, json.loads(payload_json))
        try:
            return cls.model_validate_json(payload_json)
        except ValidationError as exc:
            raise MessageError(f"{message_type} v{version} payload is invalid: {exc}") from exc

    def encode(self, message: Message) -> str:
        """The message as JSON text; refuses anything that does not round-trip
        (NaN, a validator or serializer that changes a value, an alias, ...)."""
        cls = type(message)
        if self._classes.get(cls.message_type) is not cls:
            raise MessageError(f"{cls.__qualname__} is not the registered {cls.message_type}")
        text = message.model_dump_json()
        try:
            again = cls.model_validate_json(text)
        except ValidationError as exc:
            raise MessageError(
                f"{cls.message_type} does not round-trip through JSON: {exc}"
            ) from exc
        if again != message:
            raise MessageError(f"{cls.message_type} does not round-trip through JSON")
        return text


registry = MessageRegistry()
upcaster = registry.upcaster
