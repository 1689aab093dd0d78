"""Helpers for the new-services tests: CloudEvents encoded by the contracts'
codec, and an in-memory :class:`EventSource` (the fake of the Kafka port)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from new_services.contracts.codec import encode
from new_services.contracts.events import DomainEvent, ItemAttributes, ItemCatalogued, SaleRecorded
from new_services.contracts.values import ItemCategory, Money, Rarity
from new_services.platform.consumer import Record
from new_services.platform.state import Position

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 30, 11, 0, tzinfo=UTC)


def cloudevent(event: DomainEvent, event_id: str | None = None) -> bytes:
    return encode(event, id=event_id or str(uuid.uuid4()), source="/tests", time=T0)


def item(item_id: int) -> ItemCatalogued:
    return ItemCatalogued(
        item_id=item_id,
        sku=f"ITM-{item_id:05d}",
        name=f"item {item_id}",
        category=ItemCategory.MISC,
        rarity=Rarity.COMMON,
        listable=True,
        catalogued_at=T0,
        attributes=ItemAttributes(),
    )


def sale(sale_id: int, *, item_id: int = 1, minutes: float = 0.0, price: int = 100, quantity: int = 1) -> SaleRecorded:
    total = price * quantity
    fee = total * 5 // 100
    return SaleRecorded(
        sale_id=sale_id,
        listing_id=1,
        buyer_id=2,
        seller_id=3,
        item_id=item_id,
        quantity=quantity,
        unit_price=Money.from_copper(price),
        total=Money.from_copper(total),
        fee=Money.from_copper(fee),
        seller_proceeds=Money.from_copper(total - fee),
        sold_at=T0 + dt.timedelta(minutes=minutes),
    )


class ListSource:
    """An :class:`EventSource` over fixed partitions of records."""

    def __init__(self, partitions: dict[Position, list[bytes | None]], batch: int = 7) -> None:
        self.partitions = partitions
        self.batch = batch
        self.next: dict[Position, int] = {}

    @classmethod
    def of(cls, values: Iterable[bytes | None], topic: str = "smp.market.v1", batch: int = 7) -> ListSource:
        return cls({(topic, 0): list(values)}, batch)

    def seek(self, positions: dict[Position, int]) -> None:
        self.next = {p: positions.get(p, 0) for p in self.partitions}

    def poll(self, timeout_ms: int) -> list[Record]:
        out: list[Record] = []
        for position, values in self.partitions.items():
            start = self.next[position]
            for offset in range(start, min(len(values), start + self.batch - len(out))):
                out.append(Record(position[0], position[1], offset, values[offset]))
            self.next[position] = start + len([r for r in out if (r.topic, r.partition) == position])
            if len(out) >= self.batch:
                break
        return out

    def topic_ids(self) -> dict[str, str | None]:
        return {}

    def ends(self) -> dict[Position, int | None]:
        return {}

    def lag(self) -> int | None:
        return sum(len(v) - self.next[p] for p, v in self.partitions.items())

    def close(self) -> None:
        pass
