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
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from new_services.contracts.events import EVENT_TYPES, DomainEvent
from new_services.contracts.values import Money

__all__ = ["DecodedEvent", "MalformedEvent", "UnknownEventType", "decode", "event_class_for"]


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


def event_class_for(cloudevent_type: str) -> type[DomainEvent]:
    """The class of a CloudEvents ``type``; :class:`UnknownEventType` if none."""
    try:
        return _BY_CLOUDEVENT_TYPE[cloudevent_type]
    except KeyError:
        raise UnknownEventType(cloudevent_type) from None


def decode(raw: bytes | str) -> DecodedEvent:
    """Decode one structured-mode CloudEvent (JSON bytes)."""
    try:
        message = json.loads(raw)
    except ValueError as exc:
        raise MalformedEvent(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise MalformedEvent("a CloudEvent is a JSON object")
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
        event=_build(cls, data, event_type),
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
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedEvent(f"{where}: {text!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise MalformedEvent(f"{where}: {text!r} has no offset")
    return moment


@functools.cache
def _field_types(cls: type) -> tuple[tuple[str, Any], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in fields(cls))


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    values = {}
    for name, tp in _field_types(cls):
        if name not in data:
            raise MalformedEvent(f"{where}: field {name!r} missing")
        values[name] = _value(tp, data[name], f"{where}.{name}")
    return cls(**values)


def _value(tp: Any, raw: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if raw is None:
            return None
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        return _value(members[0], raw, where)
    if origin is dict:
        if not isinstance(raw, dict):
            raise MalformedEvent(f"{where}: expected an object")
        return raw
    if tp is Money:
        return _money(raw, where)
    if tp is datetime:
        return _timestamp(raw, where)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(raw)
        except ValueError:
            raise MalformedEvent(f"{where}: {raw!r} is not one of {[m.value for m in tp]}") from None
    if is_dataclass(tp):
        if not isinstance(raw, dict):
            raise MalformedEvent(f"{where}: expected an object")
        return _build(tp, raw, where)  # type: ignore[arg-type]
    if tp is int and (type(raw) is not int):
        raise MalformedEvent(f"{where}: expected an integer, got {type(raw).__name__}")
    if tp is bool and type(raw) is not bool:
        raise MalformedEvent(f"{where}: expected a boolean")
    if tp is str and not isinstance(raw, str):
        raise MalformedEvent(f"{where}: expected a string")
    return raw


def _money(raw: Any, where: str) -> Money:
    if not isinstance(raw, dict) or not isinstance(raw.get("amount"), str):
        raise MalformedEvent(f"{where}: expected {{'amount': '1.2345', 'currency': 'GOLD'}}")
    try:
        return Money(Decimal(raw["amount"]), raw.get("currency", "GOLD"))
    except InvalidOperation:
        raise MalformedEvent(f"{where}: {raw['amount']!r} is not a decimal amount") from None
