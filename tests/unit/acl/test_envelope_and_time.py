"""Envelope parsing edge cases and legacy Paris time -> UTC around DST."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from acl.envelope import EnvelopeError, parse_change
from acl.translators._common import TranslationError, json_text, legacy_time


def micros(wall: str) -> int:
    return int((datetime.fromisoformat(wall) - datetime(1970, 1, 1)).total_seconds() * 1_000_000)


def ms(utc: str) -> int:
    return int(datetime.fromisoformat(utc).replace(tzinfo=UTC).timestamp() * 1000)


def test_tombstone_is_not_a_change():
    assert parse_change(b'{"id":1}', None) is None


@pytest.mark.parametrize("value", [b"not json", b"[]", b'{"op":"c"}', b'{"op":"z","source":{"table":"t","ts_ms":1}}'])
def test_garbage_is_an_envelope_error(value):
    with pytest.raises(EnvelopeError):
        parse_change(b'{"id":1}', value)


def test_schemas_enabled_envelope_is_unwrapped(captured):
    record = captured["sale_insert"][0]
    wrapped = json.dumps({"schema": {"type": "struct"}, "payload": json.loads(record["value"])})
    key = json.dumps({"schema": {"type": "struct"}, "payload": json.loads(record["key"])})
    assert parse_change(key, wrapped) == parse_change(record["key"], record["value"])


def test_ambiguous_autumn_hour_uses_the_commit_time_when_close():
    row = {"t": micros("2024-10-27T02:30:00")}
    assert legacy_time(row, "t") == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    second_pass = legacy_time(row, "t", commit_ts_ms=ms("2024-10-27T01:30:00.200"))
    assert second_pass == datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
    first_pass = legacy_time(row, "t", commit_ts_ms=ms("2024-10-27T00:30:00.200"))
    assert first_pass == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)


def test_spring_gap_stays_on_winter_offset():
    assert legacy_time({"t": micros("2024-03-31T02:30:00")}, "t") == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize("text, ok", [("", True), ("{}", True), ('{"a": 1}', True), ("[1]", False), ("{", False)])
def test_json_text(text, ok):
    if ok:
        assert isinstance(json_text({"x": text}, "x"), dict)
    else:
        with pytest.raises(TranslationError):
            json_text({"x": text}, "x")
