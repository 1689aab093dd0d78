"""An event's ``data``: how each field type is written to JSON and read back.

On the wire Money is ``{"amount": "12.3456", "currency": "GOLD"}`` (a
decimal string, never a float), a datetime is UTC with microseconds
(``2024-10-27T00:30:00.000000Z``), an enum is its value, a nested value
object is an object, and ``dict`` fields hold free-form JSON.

Writing relies on orjson, which writes dataclasses, enums and dicts itself
and calls :func:`json_default` for the two types it leaves to us (Decimal and
datetime). Reading builds the frozen classes back from their type hints with
a converter per field made once per class (:func:`builder`): consumers
decode every event they read, so nothing is introspected per event.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from new_services.contracts.values import GOLD, Money

__all__ = ["MalformedEvent", "builder", "format_time", "json_default", "parse_time"]


class MalformedEvent(ValueError):
    """The bytes are not a CloudEvent of a known contract (bad JSON, a
    missing attribute, a payload field of the wrong type)."""


def format_time(moment: datetime) -> str:
    """``2024-10-27T00:30:00.000000Z``: always UTC, always microseconds (what
    the published schemas' pattern requires; isoformat alone drops a zero
    fraction)."""
    if moment.tzinfo is None:
        raise ValueError("refusing a naive datetime in an event")
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def parse_time(text: Any, where: str) -> datetime:
    if not isinstance(text, str):
        raise MalformedEvent(f"{where}: expected a UTC timestamp string")
    try:
        moment = datetime.fromisoformat(text)  # Python 3.11 reads the trailing "Z"
    except ValueError:
        raise MalformedEvent(f"{where}: {text!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise MalformedEvent(f"{where}: {text!r} has no offset")
    return moment


def json_default(value: Any) -> Any:
    """orjson's ``default``: the wire text of the types it does not write itself."""
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"cannot serialize {type(value).__name__}")


Converter = Callable[[Any, str], Any]


@functools.cache
def builder(cls: type) -> Callable[[dict[str, Any], str], Any]:
    """A function building ``cls`` from its JSON object (``where`` names the
    place in error messages), made once per class from its type hints."""
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
        return parse_time
    if isinstance(tp, type) and issubclass(tp, Enum):
        return _enum(tp)
    if is_dataclass(tp):
        build = builder(tp)  # type: ignore[arg-type]
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
        return Money(Decimal(raw["amount"]), raw.get("currency", GOLD))
    except InvalidOperation:
        raise MalformedEvent(f"{where}: {raw['amount']!r} is not a decimal amount") from None
