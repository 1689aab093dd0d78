"""The ACL's shortcuts write exactly what the contracts' plain code writes:
amounts and times (``acl.wire_text``), whole messages (the ACL's codec
against the contracts' own), and event ids (against ``uuid.uuid5``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from acl.cloudevents import CODEC, EVENT_ID_NAMESPACE, event_id
from acl.envelope import parse_change
from acl.translators import translate
from acl.wire_text import fast_json_default, utc_text
from new_services.contracts.codec import CONTRACTS
from new_services.contracts.payload import format_time, json_default

AMOUNTS = [
    Decimal(f"{sign}{digits}E{exp}")
    for sign in ("", "-")
    for exp in range(-12, 8)
    for digits in ("0", "1", "15", "150", "12345", "9999999999", "100000000000000000000")
]
PARIS = ZoneInfo("Europe/Paris")
MOMENTS = [
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC),
    datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=PARIS),
    datetime(2024, 6, 1, 12, 5, 0, 250, tzinfo=timezone(timedelta(hours=-7))),
    datetime(9999, 12, 31, 23, 59, tzinfo=PARIS),
] + [datetime(2026, 11, 30, tzinfo=UTC) + timedelta(seconds=s * 3607.123457) for s in range(200)]


@pytest.mark.parametrize("values", [AMOUNTS, MOMENTS], ids=["amounts", "times"])
def test_fast_default_writes_the_contract_text(values: list[Any]) -> None:
    for value in values:
        assert fast_json_default(value) == json_default(value), repr(value)


def test_a_naive_time_is_refused_by_both() -> None:
    with pytest.raises(ValueError):
        utc_text(datetime(2024, 1, 1))
    with pytest.raises(ValueError):
        format_time(datetime(2024, 1, 1))


def test_the_acls_codec_writes_the_bytes_of_the_contracts_codec(captured) -> None:
    checked = 0
    for label, records in captured.items():
        for r in records:
            change = parse_change(r["key"], r["value"]) if not label.startswith("poison") else None
            for event in translate(change) if change else []:
                moment = datetime.fromtimestamp(change.source.commit_ts_ms / 1000, tz=UTC)
                attributes: dict[str, Any] = {
                    "id": "x",
                    "source": "/acl",
                    "time": moment,
                    "extensions": {"sourceposition": change.source.token()},
                }
                assert CODEC.encode(event, **attributes) == CONTRACTS.encode(event, **attributes), label
                checked += 1
    assert checked > 20


def test_event_ids_are_uuid5_of_the_change(captured) -> None:
    r = captured["sale_insert"][0]
    change = parse_change(r["key"], r["value"])
    [event] = translate(change)
    source = change.source
    name = (
        f"{source.table}|{orjson.dumps(change.key, option=orjson.OPT_SORT_KEYS).decode()}|{change.op}|"
        f"{source.lsn}|{source.tx_id}|SaleRecorded.v1"
    )
    assert event_id(change, event) == str(uuid.uuid5(EVENT_ID_NAMESPACE, name))
