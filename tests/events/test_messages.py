"""Messages are strict, versioned, primitive-only contracts (no database needed)."""

from __future__ import annotations

import json
import math
from typing import ClassVar

import pytest
from django.core.exceptions import ImproperlyConfigured
from pydantic import ConfigDict, Field, ValidationError, field_validator

from apps.events.public import Event, MessageError, registry
from apps.events.public.messages import RETIRED_MESSAGE_TYPES, MessagePart, MessageRegistry
from apps.events.public.subscriptions import SubscriberRegistry
from tests.events.probe import ProbeMeasured, ProbePinged, ProbeShip, ProbeTag


def test_a_message_refuses_unknown_fields_and_wrong_types() -> None:
    with pytest.raises(ValidationError, match="extra"):
        ProbePinged(key="k", colour="red")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ProbePinged(key=42)  # type: ignore[arg-type]  # strict: no coercion


def test_a_message_is_frozen() -> None:
    message = ProbePinged(key="k")
    with pytest.raises(ValidationError):
        message.key = "other"  # type: ignore[misc]


def test_type_and_version_are_stable_names_not_import_paths() -> None:
    assert (ProbePinged.message_type, ProbePinged.version) == ("customers.ProbePinged", 2)
    assert registry.class_for("customers.ProbePinged") is ProbePinged


def test_a_non_primitive_field_is_refused_when_the_class_is_defined() -> None:
    from decimal import Decimal

    with pytest.raises(MessageError, match="not a JSON primitive"):

        class Priced(Event):
            message_type: ClassVar[str] = "orders.PricedForTest"
            aggregate_field: ClassVar[str] = "key"
            key: str
            amount: Decimal


def test_a_type_name_must_name_a_module() -> None:
    with pytest.raises(MessageError, match="not a module"):

        class Stray(Event):
            message_type: ClassVar[str] = "warehouse.Stocked"
            aggregate_field: ClassVar[str] = "key"
            key: str


def test_a_retired_type_name_is_never_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(RETIRED_MESSAGE_TYPES, "orders.OrderShipped", "replaced in 2026")
    with pytest.raises(MessageError, match="retired"):

        class OrderShipped(Event):
            message_type: ClassVar[str] = "orders.OrderShipped"
            aggregate_field: ClassVar[str] = "key"
            key: str


def test_a_message_that_allows_extra_fields_is_refused() -> None:
    with pytest.raises(MessageError, match="forbids extra fields"):

        class ProbeLoose(Event):
            message_type: ClassVar[str] = "customers.ProbeLoose"
            model_config = ConfigDict(extra="allow")  # extras go unvalidated: a NaN in one
            aggregate_field: ClassVar[str] = "key"
            key: str


def test_a_part_of_a_subclass_is_refused_where_the_part_is_named() -> None:
    """Its own fields would vanish from the JSON."""

    class HeavyTag(ProbeTag):
        colour: str

    with pytest.raises(ValidationError):
        ProbePinged(key="k", tags=(HeavyTag(name="a", colour="red"),))


def test_one_type_name_cannot_name_two_classes() -> None:
    with pytest.raises(MessageError, match="already"):

        class Impostor(Event):
            message_type: ClassVar[str] = "customers.ProbePinged"
            aggregate_field: ClassVar[str] = "key"
            key: str


def test_a_payload_that_does_not_round_trip_through_json_is_refused() -> None:
    with pytest.raises(MessageError, match="round-trip"):
        registry.encode(ProbeMeasured(key="k", value=math.nan))


def _messages_that_do_not_round_trip() -> list[Event]:
    """One of each shape whose JSON comes back different, or not at all."""

    class ProbeShouted(Event):
        message_type: ClassVar[str] = "customers.ProbeShouted"
        aggregate_field: ClassVar[str] = "key"
        key: str

        @field_validator("key")
        @classmethod
        def shout(cls, key: str) -> str:
            return key + "!"  # a second pass through it changes the value again

    class ProbeAliased(Event):
        message_type: ClassVar[str] = "customers.ProbeAliased"
        aggregate_field: ClassVar[str] = "key"
        key: str = Field(alias="k")

    class ProbeMisdefaulted(Event):
        message_type: ClassVar[str] = "customers.ProbeMisdefaulted"
        aggregate_field: ClassVar[str] = "key"
        key: str
        count: int = "1"  # type: ignore[assignment]  # pydantic does not check defaults

    class ProbeLeft(MessagePart):
        name: str

    class ProbeRight(MessagePart):
        name: str

    class ProbeEitherSide(Event):
        message_type: ClassVar[str] = "customers.ProbeEitherSide"
        aggregate_field: ClassVar[str] = "key"
        key: str
        side: ProbeLeft | ProbeRight

    class ProbeHalfSent(Event):
        message_type: ClassVar[str] = "customers.ProbeHalfSent"
        aggregate_field: ClassVar[str] = "key"
        key: str
        secret: str = Field(default="", exclude=True)

    class ProbeClipped(Event):
        message_type: ClassVar[str] = "customers.ProbeClipped"
        aggregate_field: ClassVar[str] = "key"
        key: str
        code: str = Field(default="toolong", max_length=3)  # the default breaks the rule

    class ProbeSometimes(Event):
        message_type: ClassVar[str] = "customers.ProbeSometimes"
        aggregate_field: ClassVar[str] = "key"
        key: str
        note: str = Field(default="", exclude_if=lambda note: note == "hush")

    return [
        ProbeClipped(key="k"),
        ProbeSometimes(key="k", note="hush"),
        ProbeShouted(key="k"),
        ProbeAliased(k="k"),
        ProbeMisdefaulted(key="k"),
        ProbeEitherSide(key="k", side=ProbeRight(name="r")),
        ProbeHalfSent(key="k", secret="s"),
    ]


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # the misdefault's
def test_a_message_whose_json_comes_back_different_is_refused_at_publishing() -> None:
    """Publishing parses every message back and compares."""
    for message in _messages_that_do_not_round_trip():
        with pytest.raises(MessageError, match="round-trip"):
            registry.encode(message)


def test_every_registered_message_round_trips_through_json() -> None:
    """Zulip's rule: every message type is schema-checked."""
    examples = {
        "customers.ProbePinged": ProbePinged(key="k", note="n", tags=(ProbeTag(name="a"),)),
        "customers.ProbeMeasured": ProbeMeasured(key="k", value=1.5),
    }
    for message_type, cls in registry.known_types().items():
        assert cls.model_config["extra"] == "forbid", message_type
        assert cls.model_config["frozen"] is True, message_type
        example = examples.get(message_type)
        if example is not None:
            text = registry.encode(example)
            assert registry.decode_json(message_type, cls.version, text) == example
            assert registry.decode(message_type, cls.version, json.loads(text)) == example


def test_an_old_version_is_upcast_on_read() -> None:
    old_payload = {"key": "k", "text": "from v1"}
    message = registry.decode("customers.ProbePinged", 1, old_payload)
    assert message == ProbePinged(key="k", note="from v1")


def test_a_missing_upcaster_is_an_error() -> None:
    fresh = MessageRegistry()
    fresh.register(ProbePinged)
    with pytest.raises(MessageError, match="no upcaster"):
        fresh.decode("customers.ProbePinged", 1, {"key": "k"})


def test_a_command_has_exactly_one_handler_in_its_module() -> None:
    fresh = SubscriberRegistry()
    orders = fresh.declare("orders", module="orders", publishes=True)
    fresh.add_handler(orders, ProbeShip, lambda message, envelope: None)
    other = fresh.declare("orders.other", module="orders", publishes=True)
    with pytest.raises(ImproperlyConfigured, match="exactly one handler"):
        fresh.add_handler(other, ProbeShip, lambda message, envelope: None)
    customers = fresh.declare("customers", module="customers", publishes=True)
    with pytest.raises(ImproperlyConfigured, match="must be handled by orders"):
        SubscriberRegistry().add_handler(customers, ProbeShip, lambda m, e: None)


def test_a_projection_must_say_how_to_reset() -> None:
    with pytest.raises(ImproperlyConfigured, match="reset"):
        SubscriberRegistry().declare("x.view", module="customers", publishes=False)
