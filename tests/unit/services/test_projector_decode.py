"""The projector decodes only what its projection reads, through the codec:
stored older versions arrive upcast, other known types are ignored without
being decoded, unknown types are skipped and broken payloads rejected."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
import pytest
from contract_v2 import V2, SaleRecordedV2

from new_services.contracts.codec import CONTRACTS, Codec, DecodedEvent
from new_services.contracts.events import DomainEvent, ItemRemoved, SaleRecorded
from new_services.contracts.values import Money
from new_services.platform.consumer import BatchOutcome, Projection, Projector, Record

T0 = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)


class ReadsSales(Projection):
    """A projection of the sales only (its read model is never touched here)."""

    consumer = "test"
    topics = ("smp.market.v1",)

    def __init__(self, event_types: frozenset[str]) -> None:
        self.event_types = event_types

    def apply(self, conn: object, events: Sequence[DecodedEvent]) -> int:
        raise AssertionError("not called by decode")

    def reset(self, conn: object) -> None:
        raise AssertionError("not called by decode")


def record(value: bytes | None, offset: int = 0) -> Record:
    return Record("smp.market.v1", 0, offset, value)


def stored(event: DomainEvent, codec: Codec = CONTRACTS) -> bytes:
    return codec.encode(event, id=f"id-{event.subject()}", source="/tests", time=T0)


SALE = SaleRecorded(
    sale_id=1,
    listing_id=1,
    buyer_id=2,
    seller_id=3,
    item_id=4,
    quantity=2,
    unit_price=Money.from_copper(100),
    total=Money.from_copper(200),
    fee=Money.from_copper(10),
    seller_proceeds=Money.from_copper(190),
    sold_at=T0,
)


def test_a_stored_v1_sale_reaches_a_v2_projection_upcast_and_the_rest_is_counted() -> None:
    projector = Projector(
        ReadsSales(frozenset({SaleRecordedV2.cloudevent_type()})),
        source=None,  # type: ignore[arg-type]
        engine=None,
        codec=V2,
    )  # type: ignore[arg-type]
    broken = orjson.loads(stored(SALE))
    broken["data"]["quantity"] = "two"
    values = [
        stored(SALE),
        stored(ItemRemoved(item_id=4)),
        stored(SALE).replace(b"SaleRecorded.v1", b"SaleRecorded.v3"),
        orjson.dumps(broken),
        None,
    ]
    outcome = BatchOutcome()
    decoded = [projector.decode(record(v, n), outcome) for n, v in enumerate(values)]
    assert isinstance(decoded[0], DecodedEvent) and isinstance(decoded[0].event, SaleRecordedV2)
    assert decoded[0].event.fee_rate == "0.0500" and decoded[0].id == "id-sales/1"
    assert decoded[1:] == [None] * 4
    assert (outcome.ignored, outcome.skipped, outcome.rejected) == (1, 1, 1)


@pytest.mark.parametrize("reads", ["smp.market.SaleRecorded.v1", "smp.market.Nothing.v1"])
def test_a_projection_listing_an_upcast_or_unknown_type_is_refused(reads: str) -> None:
    with pytest.raises(ValueError, match="newer version"):
        Projector(ReadsSales(frozenset({reads})), source=None, engine=None, codec=V2)  # type: ignore[arg-type]
