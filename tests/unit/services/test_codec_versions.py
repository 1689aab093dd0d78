"""One codec writes and reads every event, and reads stored older versions
as the newest one through upcasters (with the test-only ``SaleRecordedV2``
of ``contract_v2``)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from contract_v2 import V2, SaleRecordedV2, sale_v1_to_v2

from new_services.contracts.codec import (
    CONTRACTS,
    KAFKA_HEADERS,
    Codec,
    MalformedEvent,
    UnknownEventType,
    data_of,
    decode,
    encode,
)
from new_services.contracts.events import EVENT_TYPES, DomainEvent, SaleRecorded, topic_for
from new_services.contracts.upcasting import Upcaster
from new_services.contracts.values import Money

T0 = datetime(2026, 11, 30, 11, 0, 0, 250_000, tzinfo=UTC)


def sale_v1() -> SaleRecorded:
    return SaleRecorded(
        sale_id=42,
        listing_id=7,
        buyer_id=2,
        seller_id=3,
        item_id=9,
        quantity=4,
        unit_price=Money.from_copper(150),
        total=Money.from_copper(600),
        fee=Money.from_copper(30),
        seller_proceeds=Money.from_copper(570),
        sold_at=T0,
    )


def stored(event: DomainEvent, codec: Codec = CONTRACTS) -> bytes:
    return codec.encode(event, id="3f2c9a4e-0000-5000-8000-000000000001", source="/tests", time=T0)


def test_encode_writes_the_structured_mode_message_and_decode_reads_it_back() -> None:
    event = sale_v1()
    message = orjson.loads(stored(event))
    assert message == {
        "specversion": "1.0",
        "id": "3f2c9a4e-0000-5000-8000-000000000001",
        "source": "/tests",
        "type": "smp.market.SaleRecorded.v1",
        "subject": "sales/42",
        "time": "2026-11-30T11:00:00.250000Z",
        "datacontenttype": "application/json",
        "dataschema": "urn:smp:contracts:SaleRecorded.v1",
        "data": data_of(event),
    }
    assert message["data"]["unit_price"] == {"amount": "0.0150", "currency": "GOLD"}
    decoded = decode(stored(event))
    assert decoded.event == event and decoded.type == "smp.market.SaleRecorded.v1" and decoded.time == T0
    assert KAFKA_HEADERS == (("content-type", b"application/cloudevents+json"),)


def test_extensions_travel_as_attributes() -> None:
    raw = encode(sale_v1(), id="x", source="/tests", time=T0, extensions={"sourceposition": "12:34"})
    assert orjson.loads(raw)["sourceposition"] == "12:34"


def test_a_v2_class_sits_beside_v1_under_the_same_contract_name_and_topic() -> None:
    assert SaleRecordedV2.type_name() == "SaleRecorded.v2"
    assert SaleRecordedV2.cloudevent_type() == "smp.market.SaleRecorded.v2"
    assert SaleRecordedV2.topic() == SaleRecorded.topic() == topic_for("market") == "smp.market.v1"
    assert SaleRecorded.type_name() == "SaleRecorded.v1"  # v1 untouched


def test_a_stored_v1_event_is_read_as_v2_through_the_upcaster() -> None:
    decoded = V2.decode(stored(sale_v1()))  # what the ACL writes today
    assert decoded.type == "smp.market.SaleRecorded.v2"
    assert decoded.event == SaleRecordedV2(
        sale_id=42,
        listing_id=7,
        buyer_id=2,
        seller_id=3,
        item_id=9,
        quantity=4,
        unit_price=Money.from_copper(150),
        fee=Money.from_copper(30),
        fee_rate="0.0500",
        sold_at=T0,
    )
    assert (
        V2.reads_as("smp.market.SaleRecorded.v1")
        == V2.reads_as("smp.market.SaleRecorded.v2")
        == "smp.market.SaleRecorded.v2"
    )
    assert V2.reads_as("smp.market.SaleVoided.v1") == "smp.market.SaleVoided.v1"  # no upcaster: itself


def test_v2_round_trips_and_a_build_without_it_skips_it_as_unknown() -> None:
    v2 = V2.decode(stored(sale_v1())).event
    assert V2.decode(stored(v2, V2)).event == v2
    with pytest.raises(UnknownEventType):
        decode(stored(v2, V2))  # the contracts of this build: counted and skipped by consumers
    assert CONTRACTS.reads_as("smp.market.SaleRecorded.v2") is None
    with pytest.raises(UnknownEventType):
        CONTRACTS.encode(v2, id="x", source="/tests", time=T0)  # not registered: not written either


def test_a_stored_payload_the_upcaster_cannot_read_is_malformed() -> None:
    message = orjson.loads(stored(sale_v1()))
    del message["data"]["total"]
    with pytest.raises(MalformedEvent, match="upcast"):
        V2.decode(orjson.dumps(message))


def test_an_upcaster_goes_one_version_up_the_same_event() -> None:
    with pytest.raises(ValueError, match="one version up"):
        Upcaster(SaleRecordedV2, SaleRecorded, lambda data: data)
    with pytest.raises(ValueError, match="does not know"):
        Codec(EVENT_TYPES.values(), [Upcaster(SaleRecorded, SaleRecordedV2, sale_v1_to_v2)])


def test_a_topic_version_is_set_in_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    assert {cls.topic() for cls in EVENT_TYPES.values()} == {"smp.players.v1", "smp.catalog.v1", "smp.market.v1"}
    from new_services.contracts import events

    monkeypatch.setitem(events.TOPIC_VERSIONS, "market", 2)
    assert SaleRecorded.topic() == SaleRecordedV2.topic() == "smp.market.v2"
