"""Every event the ACL produces validates against its published JSON Schema,
and the published files are exactly what the contract classes generate."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from acl.cloudevents import event_id
from acl.consumer import translate_record
from new_services.contracts.codec import KAFKA_HEADERS, data_of
from new_services.contracts.events import EVENT_TYPES
from new_services.contracts.schema import SCHEMA_DIR, load_schema, render_all


def produced(captured: dict[str, list[dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for label, records in captured.items():
        if label.startswith("poison"):
            continue
        for r in records:
            for message in translate_record(
                r["key"].encode() if r["key"] else None, r["value"].encode() if r["value"] else None
            ):
                out.append((message.topic, json.loads(message.value)))
    return out


def test_schema_files_are_up_to_date():
    on_disk = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.json")}
    assert on_disk == render_all(), "run: python -m new_services.contracts.schema"


def test_every_produced_event_validates(captured):
    events = produced(captured)
    seen = set()
    for topic, ce in events:
        type_name = ce["type"].split(".", 2)[2]
        schema = load_schema(type_name)
        jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(ce)
        assert topic == EVENT_TYPES[type_name].topic()
        seen.add(type_name)
    assert len(seen) >= 20, sorted(set(EVENT_TYPES) - seen)


def test_a_wrong_event_does_not_validate(captured):
    _, ce = next(e for e in produced(captured) if e[1]["type"].endswith("SaleRecorded.v1"))
    ce["data"]["total"] = {"amount": 500, "currency": "GOLD"}  # a number, not a decimal string
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(ce, load_schema("SaleRecorded.v1"))


def test_event_ids_are_deterministic_and_distinct(captured):
    first = [ce["id"] for _, ce in produced(captured)]
    second = [ce["id"] for _, ce in produced(captured)]
    assert first == second
    assert len(set(first)) == len(first)


def test_cloudevent_envelope(captured):
    topic, ce = next(e for e in produced(captured) if e[1]["type"].endswith("WalletCredited.v1"))
    assert topic == "smp.players.v1"
    assert ce["specversion"] == "1.0" and ce["subject"] == "wallets/1"
    assert ce["time"].endswith("Z") and ce["datacontenttype"] == "application/json"


def test_event_id_ignores_redelivery_but_not_the_change(captured):
    from acl.envelope import parse_change
    from acl.translators import translate

    a, b = captured["wallet_credit"][0], captured["wallet_debit"][0]
    ca, cb = parse_change(a["key"], a["value"]), parse_change(b["key"], b["value"])
    ea, eb = translate(ca)[0], translate(cb)[0]
    assert event_id(ca, ea) == event_id(parse_change(a["key"], a["value"]), ea)
    assert event_id(ca, ea) != event_id(cb, eb)


def test_the_acl_publishes_through_the_contracts_codec(captured):
    """The payload is the codec's ``data`` of the translated event, the
    envelope carries the ACL's attributes, and every message has the Kafka
    binding's structured-mode header."""
    from acl.envelope import parse_change
    from acl.translators import translate

    r = captured["sale_insert"][0]
    change = parse_change(r["key"], r["value"])
    [event] = translate(change)
    [message] = translate_record(r["key"].encode(), r["value"].encode())
    ce = json.loads(message.value)
    assert ce["data"] == data_of(event)
    assert ce["id"] == event_id(change, event) and ce["sourceposition"] == change.source.token()
    assert (message.topic, message.key) == ("smp.market.v1", b"sales/1")
    assert message.headers == KAFKA_HEADERS == (("content-type", b"application/cloudevents+json"),)
