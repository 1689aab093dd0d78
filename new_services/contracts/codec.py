"""CloudEvents JSON -> domain event: the decoder every consumer of the contracts uses.

The ACL writes structured-mode CloudEvents 1.0 whose ``type`` is
``smp.<context>.<Name>.v<N>`` and whose ``data`` is the event's payload (see
``schema.py``). :func:`decode` turns those bytes back into the frozen event
class, with Money, datetimes, enums and nested value objects rebuilt, so a
service's handlers work with the same typed objects the ACL produced.

An event type this build does not know (a newer version, a new event) is not
an error of the stream: :func:`decode` raises :class:`UnknownEventType`, and
consumers count and skip it. A known type whose payload does not fit its
class raises :class:`MalformedEvent` (a contract violation worth an alarm).
Standard library only.
"""

from __future__ import annotations

import functools
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from new_services.contracts.events import EVENT_TYPES, DomainEvent
from new_services.contracts.values import Money

__all__ = ["DecodedEvent", "MalformedEvent", "UnknownEventType", "decode", "event_class_for", "from_message", "is_known", "parse"]


class MalformedEvent(ValueError):
    """The bytes are not a CloudEvent of a known contract (bad JSON, a
    missing attribute, a payload field of the wrong type)."""


class UnknownEventType(LookupError):
    """A well-formed CloudEvent whose ``type`` this build has no class for."""

    def __init__(self, event_type: str) -> None:
        super().__init__(f"unknown event type {event_type!r}")
        self.event_type = event_type


@dataclass(frozen=True)
class DecodedEvent:
    """One CloudEvent: the envelope attributes a consumer needs, and the event."""

    id: str
    type: str
    subject: str
    time: datetime
    event: DomainEvent


#: ``smp.market.SaleRecorded.v1`` -> SaleRecorded
_BY_CLOUDEVENT_TYPE: dict[str, type[DomainEvent]] = {cls.cloudevent_type(): cls for cls in EVENT_TYPES.values()}


def is_known(cloudevent_type: str) -> bool:
    return cloudevent_type in _BY_CLOUDEVENT_TYPE


def event_class_for(cloudevent_type: str) -> type[DomainEvent]:
    """The class of a CloudEvents ``type``; :class:`UnknownEventType` if none."""
    try:
        return _BY_CLOUDEVENT_TYPE[cloudevent_type]
    except KeyError:
        raise UnknownEventType(cloudevent_type) from None


def decode(raw: bytes | str) -> DecodedEvent:
    """Decode one structured-mode CloudEvent (JSON bytes)."""
    return from_message(parse(raw))


def parse(raw: bytes | str) -> dict[str, Any]:
    """The CloudEvent's JSON object, not yet checked against a contract."""
    try:
        message = json.loads(raw)
    except ValueError as exc:
        raise MalformedEvent(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise MalformedEvent("a CloudEvent is a JSON object")
    return message


def from_message(message: dict[str, Any]) -> DecodedEvent:
    """A parsed CloudEvent (e.g. by a faster JSON parser) as its event."""
    event_type = _attribute(message, "type")
    cls = event_class_for(event_type)
    data = message.get("data")
    if not isinstance(data, dict):
        raise MalformedEvent(f"{event_type}: 'data' must be an object")
    return DecodedEvent(
        id=_attribute(message, "id"),
        type=event_type,
        subject=_attribute(message, "subject"),
        time=_timestamp(_attribute(message, "time"), "time"),
        event=_builder(cls)(data, event_type),
    )


def _attribute(message: dict[str, Any], name: str) -> str:
    value = message.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"CloudEvent attribute {name!r} missing or not a string")
    return value


def _timestamp(text: Any, where: str) -> datetime:
    if not isinstance(text, str):
        raise MalformedEvent(f"{where}: expected a UTC timestamp string")
    try:
        moment = datetime.fromisoformat(text)  # Python 3.11 reads the trailing "Z"
    except ValueError:
        raise MalformedEvent(f"{where}: {text!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise MalformedEvent(f"{where}: {text!r} has no offset")
    return moment


Converter = Callable[[Any, str], Any]


@functools.cache
def _builder(cls: type) -> Callable[[dict[str, Any], str], Any]:
    """A function building ``cls`` from its JSON payload, made once per class
    from its type hints (consumers decode every event: no introspection per event)."""
    hints = typing.get_type_hints(cls)
    converters = tuple((f.name, _converter(hints[f.name])) for f in fields(cls))

    def build(data: dict[str, Any], where: str) -> Any:
        values = {}
        for name, convert in converters:
            if name not in data:
                raise MalformedEvent(f"{where}: field {name!r} missing")
            values[name] = convert(data[name], f"{where}.{name}")
        return cls(**values)

    return build


def _converter(tp: Any) -> Converter:
    """How a JSON value becomes a value of type ``tp`` (or a MalformedEvent)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = _converter(members[0])
        return lambda raw, where: None if raw is None else inner(raw, where)
    if origin is dict:
        return _checked(dict, "an object")
    if tp is Money:
        return _money
    if tp is datetime:
        return _timestamp
    if isinstance(tp, type) and issubclass(tp, Enum):
        return _enum(tp)
    if is_dataclass(tp):
        build = _builder(tp)  # type: ignore[arg-type]
        check = _checked(dict, "an object")
        return lambda raw, where: build(check(raw, where), where)
    if tp is int:
        return _checked(int, "an integer")
    if tp is bool:
        return _checked(bool, "a boolean")
    if tp is str:
        return _checked(str, "a string")
    return lambda raw, where: raw


def _checked(kind: type, described: str) -> Converter:
    def check(raw: Any, where: str) -> Any:
        if type(raw) is not kind:  # exact: a JSON true is not an integer
            raise MalformedEvent(f"{where}: expected {described}, got {type(raw).__name__}")
        return raw

    return check


def _enum(kind: type[Enum]) -> Converter:
    def convert(raw: Any, where: str) -> Any:
        try:
            return kind(raw)
        except ValueError:
            raise MalformedEvent(f"{where}: {raw!r} is not one of {[m.value for m in kind]}") from None

    return convert


def _money(raw: Any, where: str) -> Money:
    if not isinstance(raw, dict) or not isinstance(raw.get("amount"), str):
        raise MalformedEvent(f"{where}: expected {{'amount': '1.2345', 'currency': 'GOLD'}}")
    try:
        return Money(Decimal(raw["amount"]), raw.get("currency", "GOLD"))
    except InvalidOperation:
        raise MalformedEvent(f"{where}: {raw['amount']!r} is not a decimal amount") from None
