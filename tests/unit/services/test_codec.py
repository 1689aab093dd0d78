"""The contracts' decoder reads back every event the ACL really produces
(from Debezium payloads captured off the real connector), and tells unknown
types from broken payloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from acl.consumer import translate_record
from new_services.contracts.codec import MalformedEvent, UnknownEventType, data_of, decode
from new_services.contracts.events import SaleRecorded
from new_services.contracts.values import Money

CAPTURED = Path(__file__).resolve().parents[2] / "fixtures" / "debezium" / "captured.json"


def acl_output() -> list[bytes]:
    captured: dict[str, list[dict[str, Any]]] = json.loads(CAPTURED.read_text())
    out = []
    for label, records in captured.items():
        if label.startswith("poison"):
            continue
        for r in records:
            key = r["key"].encode() if r["key"] else None
            value = r["value"].encode() if r["value"] else None
            out.extend(message.value for message in translate_record(key, value))
    return out


def test_every_event_the_acl_produces_decodes_to_the_same_payload() -> None:
    produced = acl_output()
    assert len(produced) > 20
    types = set()
    for raw in produced:
        message = json.loads(raw)
        decoded = decode(raw)
        types.add(decoded.type)
        assert decoded.id == message["id"] and decoded.subject == message["subject"]
        assert data_of(decoded.event) == message["data"]
        assert decoded.event.cloudevent_type() == message["type"]
    assert "smp.market.SaleRecorded.v1" in types and len(types) >= 20


def test_money_and_times_come_back_typed() -> None:
    raw = next(r for r in acl_output() if b"SaleRecorded" in r)
    event = decode(raw).event
    assert isinstance(event, SaleRecorded)
    assert isinstance(event.total, Money) and event.total.to_copper() == event.quantity * event.unit_price.to_copper()
    assert event.sold_at.tzinfo is not None


def test_an_unknown_type_or_version_is_told_apart_from_a_broken_payload() -> None:
    message = json.loads(next(r for r in acl_output() if b"SaleRecorded" in r))
    newer = {**message, "type": "smp.market.SaleRecorded.v2"}
    with pytest.raises(UnknownEventType):
        decode(json.dumps(newer))
    broken = {**message, "data": {**message["data"], "quantity": "three"}}
    with pytest.raises(MalformedEvent, match="quantity"):
        decode(json.dumps(broken))
    with pytest.raises(MalformedEvent):
        decode(b"{not json")
    with pytest.raises(MalformedEvent, match="sold_at"):
        decode(json.dumps({**message, "data": {**message["data"], "sold_at": "yesterday"}}))
