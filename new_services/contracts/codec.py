"""The codec of the contracts: domain event <-> CloudEvents 1.0 JSON.

Every producer and consumer of domain events goes through it: the ACL
publishes with :func:`encode`, the services read with :func:`decode` (or
:func:`parse` + :func:`from_message`, to look at ``type`` before decoding).
The message is CloudEvents structured mode, one JSON object::

    {"specversion": "1.0", "id": "...", "source": "/strangler/acl/legacy-smp",
     "type": "smp.market.SaleRecorded.v1", "subject": "sales/42",
     "time": "2024-06-01T10:05:00.000000Z", "datacontenttype": "application/json",
     "dataschema": "urn:smp:contracts:SaleRecorded.v1", <extensions>, "data": {...}}

On Kafka it travels with the header ``content-type:
application/cloudevents+json`` (:data:`KAFKA_HEADERS`, the Kafka protocol
binding's structured mode), so CloudEvents SDKs recognise it.

Reading: a type the codec does not know (a newer version, a new event) is
not an error of the stream: :class:`UnknownEventType`, which consumers
count and skip. A known type whose payload does not fit its class raises
:class:`MalformedEvent`. Older versions are read as the newest through the
upcasters (``upcasting.py``).

:data:`CONTRACTS` is the codec of this build's events and upcasters; the
module functions are its methods. Tests make a :class:`Codec` of their own
to try other versions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from new_services.contracts.events import EVENT_TYPES, DomainEvent
from new_services.contracts.payload import MalformedEvent, builder, json_default, parse_time
from new_services.contracts.upcasting import UPCASTERS, Upcaster, plan_reads

__all__ = [
    "CONTENT_TYPE",
    "CONTRACTS",
    "DATA_CONTENT_TYPE",
    "KAFKA_HEADERS",
    "SPECVERSION",
    "Codec",
    "DecodedEvent",
    "MalformedEvent",
    "UnknownEventType",
    "data_of",
    "dataschema",
    "decode",
    "encode",
    "event_class_for",
    "from_message",
    "is_known",
    "parse",
    "reads_as",
]

SPECVERSION = "1.0"
DATA_CONTENT_TYPE = "application/json"
#: The media type of the whole message (structured mode).
CONTENT_TYPE = "application/cloudevents+json"
#: Kafka record headers of an encoded event (copy into the client's own list).
KAFKA_HEADERS: tuple[tuple[str, bytes], ...] = (("content-type", CONTENT_TYPE.encode()),)

_DUMPS_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME  # our time format, not orjson's (see payload.format_time)


class UnknownEventType(LookupError):
    """A well-formed CloudEvent whose ``type`` this codec has no class for."""

    def __init__(self, event_type: str) -> None:
        super().__init__(f"unknown event type {event_type!r}")
        self.event_type = event_type


@dataclass(frozen=True)
class DecodedEvent:
    """One CloudEvent: the envelope attributes a consumer needs, and the
    event (after upcasting: ``type`` is the type of ``event``)."""

    id: str
    type: str
    subject: str
    time: datetime
    event: DomainEvent


def dataschema(cls: type[DomainEvent]) -> str:
    """``urn:smp:contracts:SaleRecorded.v1``: also the ``$id`` of the published schema."""
    return f"urn:smp:contracts:{cls.type_name()}"


def data_of(event: DomainEvent) -> dict[str, Any]:
    """The event's ``data`` as JSON values (what :meth:`Codec.encode` writes)."""
    return orjson.loads(orjson.dumps(event, default=json_default, option=_DUMPS_OPTIONS))  # type: ignore[no-any-return]


def parse(raw: bytes | str) -> dict[str, Any]:
    """The CloudEvent's JSON object, not yet checked against a contract."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedEvent(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise MalformedEvent("a CloudEvent is a JSON object")
    return message


class Codec:
    """Encodes and decodes the events of ``events``; reads older versions as
    newer ones through ``upcasters``.

    ``json_default`` writes the values orjson leaves to Python (Decimal and
    datetime, see :func:`payload.json_default`). A busy producer may pass a
    faster function (:meth:`with_json_default`) that must write the same text."""

    def __init__(
        self,
        events: Iterable[type[DomainEvent]],
        upcasters: Iterable[Upcaster] = (),
        *,
        json_default: Callable[[Any], Any] = json_default,
    ) -> None:
        classes, steps = list(events), tuple(upcasters)
        self._events, self._upcasters, self._json_default = classes, steps, json_default
        self._known = {cls.cloudevent_type(): cls for cls in classes}
        if len(self._known) != len(classes):
            raise ValueError("two event classes share a CloudEvents type")
        self._plans = plan_reads(self._known, steps)
        self._reads_as = {t: plan.target.cloudevent_type() for t, plan in self._plans.items()}
        # what every message of a class carries: worked out once, not per event
        self._attributes = {cls: (cls.cloudevent_type(), dataschema(cls)) for cls in classes}

    def with_json_default(self, json_default: Callable[[Any], Any]) -> Codec:
        """The same codec writing Decimal and datetime values with ``json_default``."""
        return Codec(self._events, self._upcasters, json_default=json_default)

    # -- writing ---------------------------------------------------------

    def encode(
        self,
        event: DomainEvent,
        *,
        id: str,
        source: str,
        time: datetime,
        subject: str | None = None,
        extensions: Mapping[str, str] | None = None,
    ) -> bytes:
        """The structured-mode message of ``event``. ``subject`` defaults to
        ``event.subject()``; ``extensions`` are extra context attributes
        (lower-case alphanumeric names, string values)."""
        try:
            event_type, schema = self._attributes[type(event)]
        except KeyError:
            raise UnknownEventType(type(event).__name__) from None
        message: dict[str, Any] = {
            "specversion": SPECVERSION,
            "id": id,
            "source": source,
            "type": event_type,
            "subject": event.subject() if subject is None else subject,
            "time": time,
            "datacontenttype": DATA_CONTENT_TYPE,
            "dataschema": schema,
        }
        if extensions:
            message.update(extensions)
        message["data"] = event
        return orjson.dumps(message, default=self._json_default, option=_DUMPS_OPTIONS)

    # -- reading ---------------------------------------------------------

    def is_known(self, cloudevent_type: str) -> bool:
        return cloudevent_type in self._plans

    def reads_as(self, cloudevent_type: str) -> str | None:
        """The type a stored ``cloudevent_type`` decodes to (itself, or the
        newest version through the upcasters); None if unknown. Lets a
        consumer skip what it does not read without decoding it."""
        return self._reads_as.get(cloudevent_type)

    def event_class_for(self, cloudevent_type: str) -> type[DomainEvent]:
        """The class a stored ``cloudevent_type`` decodes to; :class:`UnknownEventType` if none."""
        try:
            return self._plans[cloudevent_type].target
        except KeyError:
            raise UnknownEventType(cloudevent_type) from None

    def decode(self, raw: bytes | str) -> DecodedEvent:
        """Decode one structured-mode CloudEvent (JSON bytes)."""
        return self.from_message(parse(raw))

    def from_message(self, message: dict[str, Any]) -> DecodedEvent:
        """A parsed CloudEvent as its event."""
        event_type = _attribute(message, "type")
        plan = self._plans.get(event_type)
        if plan is None:
            raise UnknownEventType(event_type)
        if message.get("specversion") != SPECVERSION:
            raise MalformedEvent(f"{event_type}: specversion {message.get('specversion')!r} is not {SPECVERSION}")
        data = message.get("data")
        if not isinstance(data, dict):
            raise MalformedEvent(f"{event_type}: 'data' must be an object")
        for step in plan.steps:
            try:
                data = step(data)
            except (KeyError, TypeError, ValueError) as exc:
                raise MalformedEvent(f"{event_type}: cannot upcast to {plan.target.type_name()}: {exc!r}") from None
        return DecodedEvent(
            id=_attribute(message, "id"),
            type=self._reads_as[event_type],
            subject=_attribute(message, "subject"),
            time=parse_time(_attribute(message, "time"), "time"),
            event=builder(plan.target)(data, event_type),  # type: ignore[arg-type]  # a class is hashable
        )


def _attribute(message: dict[str, Any], name: str) -> str:
    value = message.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"CloudEvent attribute {name!r} missing or not a string")
    return value


#: The codec of this build's contract.
CONTRACTS = Codec(EVENT_TYPES.values(), UPCASTERS)

encode = CONTRACTS.encode
decode = CONTRACTS.decode
from_message = CONTRACTS.from_message
is_known = CONTRACTS.is_known
reads_as = CONTRACTS.reads_as
event_class_for = CONTRACTS.event_class_for
