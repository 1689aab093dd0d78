"""JSON Schema for every event, generated from the dataclasses in events.py.

Each ``schemas/<Name>.v<N>.json`` describes the whole CloudEvents 1.0 JSON
message that ``codec.py`` writes (envelope + ``data``), so a consumer in any
language can validate what it reads. Regenerate after adding an event::

    python -m new_services.contracts.schema

A unit test fails if the files on disk differ from what this produces.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import fields, is_dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from new_services.contracts.codec import DATA_CONTENT_TYPE, SPECVERSION, dataschema
from new_services.contracts.events import EVENT_TYPES, DomainEvent
from new_services.contracts.values import Money

SCHEMA_DIR = Path(__file__).parent / "schemas"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
UTC_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$"

MONEY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "amount": {"type": "string", "pattern": r"^-?\d+\.\d{4}$"},
        "currency": {"type": "string", "const": "GOLD"},
    },
    "required": ["amount", "currency"],
    "additionalProperties": False,
}


def _type_schema(tp: Any) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = _type_schema(members[0]) if len(members) == 1 else {"anyOf": [_type_schema(m) for m in members]}
        return {"anyOf": [inner, {"type": "null"}]}
    if origin is dict:
        return {"type": "object"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is str:
        return {"type": "string"}
    if tp is datetime:
        return {"type": "string", "format": "date-time", "pattern": UTC_TIMESTAMP}
    if tp is Money:
        return {"$ref": "#/$defs/Money"}
    if isinstance(tp, type) and issubclass(tp, Enum):
        return {"type": "string", "enum": [m.value for m in tp]}
    if is_dataclass(tp):
        return _object_schema(tp)
    raise TypeError(f"no JSON Schema mapping for {tp!r}")


def _object_schema(cls: Any) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    props = {f.name: _type_schema(hints[f.name]) for f in fields(cls)}
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def _description(cls: type[DomainEvent]) -> str:
    doc = (cls.__doc__ or "").strip()
    if not doc or doc.startswith(f"{cls.__name__}("):  # dataclass's generated signature
        return f"{cls.type_name()} ({cls.context} context, aggregate {cls.aggregate})"
    return " ".join(doc.split())


def event_schema(cls: type[DomainEvent]) -> dict[str, Any]:
    """The CloudEvents message schema for one event class."""
    return {
        "$schema": DIALECT,
        "$id": dataschema(cls),
        "title": cls.type_name(),
        "description": _description(cls),
        "type": "object",
        "properties": {
            "specversion": {"const": SPECVERSION},
            "id": {"type": "string", "format": "uuid"},
            "source": {"type": "string", "minLength": 1},
            "type": {"const": cls.cloudevent_type()},
            "subject": {"type": "string", "pattern": f"^{cls.aggregate}/\\d+$"},
            "time": {"type": "string", "format": "date-time", "pattern": UTC_TIMESTAMP},
            "datacontenttype": {"const": DATA_CONTENT_TYPE},
            "dataschema": {"type": "string"},
            "sourceposition": {"type": "string"},
            "data": _object_schema(cls),
        },
        "required": ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"],
        "$defs": {"Money": MONEY_SCHEMA},
    }


def render_all() -> dict[str, str]:
    """File name -> JSON text for every event type."""
    return {
        f"{name}.json": json.dumps(event_schema(cls), indent=2, sort_keys=True) + "\n"
        for name, cls in sorted(EVENT_TYPES.items())
    }


def load_schema(type_name: str) -> dict[str, Any]:
    """The published schema of ``SaleRecorded.v1`` (read from the file)."""
    return json.loads((SCHEMA_DIR / f"{type_name}.json").read_text())  # type: ignore[no-any-return]


def main() -> None:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name, text in render_all().items():
        (SCHEMA_DIR / name).write_text(text)
    print(f"wrote {len(EVENT_TYPES)} schemas to {SCHEMA_DIR}")


if __name__ == "__main__":
    main()
