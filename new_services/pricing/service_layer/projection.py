"""The pricing projection: which events change the read model, and how.

- ``SaleRecorded``: a new trade (idempotent by sale id), merged into every
  interval's candle. Consecutive sales of a batch are written together.
- ``SaleCorrected`` / ``SaleVoided``: the trade is replaced or removed and
  the buckets it touched (before and after) are recomputed from the trades.
- ``ItemCatalogued`` / ``ItemRevised``: the item's sku; ``ItemRemoved``
  forgets the item (its rate is then a 404, as in the monolith).

Everything else on the topics is not pricing's concern and has no effect.
Each batch ends by announcing the items it changed on the change feed, in
the same transaction, so the API processes drop what they cached of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from new_services.contracts.codec import DecodedEvent
from new_services.contracts.events import (
    ItemCatalogued,
    ItemRemoved,
    ItemRevised,
    SaleCorrected,
    SaleRecorded,
    SaleVoided,
)
from new_services.pricing.adapters import change_feed
from new_services.pricing.adapters import projection_store as store
from new_services.pricing.domain.clock import MarketClock
from new_services.pricing.domain.model import Trade

HANDLED = (SaleRecorded, SaleCorrected, SaleVoided, ItemCatalogued, ItemRevised, ItemRemoved)
TOPICS = tuple(dict.fromkeys(cls.topic() for cls in HANDLED))  # ("smp.market.v1", "smp.catalog.v1")


class PricingProjection:
    """Implements ``new_services.platform.consumer.Projection``."""

    consumer = "pricing"
    topics = TOPICS
    event_types = frozenset(cls.cloudevent_type() for cls in HANDLED)

    def __init__(self, clock: MarketClock) -> None:
        self.clock = clock

    def trade(self, sale: SaleRecorded | SaleCorrected) -> Trade:
        return Trade(
            sale_id=sale.sale_id,
            item_id=sale.item_id,
            sold_at=self.clock.wall_clock(sale.sold_at),
            quantity=sale.quantity,
            unit_price=sale.unit_price.to_copper(),
            total=sale.total.to_copper(),
        )

    def apply(self, conn: Connection, events: Sequence[DecodedEvent]) -> int:
        applied = 0
        changed: set[int] = set()
        recorded: list[tuple[Trade, str]] = []
        for decoded in events:
            event = decoded.event
            if isinstance(event, SaleRecorded):
                recorded.append((self.trade(event), decoded.id))
                continue
            applied += self._record(conn, recorded, changed)
            recorded = []
            applied += self._apply_one(conn, decoded, changed)
        applied += self._record(conn, recorded, changed)
        change_feed.announce(conn, changed)
        return applied

    def _record(self, conn: Connection, recorded: list[tuple[Trade, str]], changed: set[int]) -> int:
        changed.update(trade.item_id for trade, _ in recorded)
        return store.record_trades(conn, recorded)

    def _apply_one(self, conn: Connection, decoded: DecodedEvent, changed: set[int]) -> int:
        event = decoded.event
        if isinstance(event, (ItemCatalogued, ItemRevised)):
            store.upsert_item(conn, item_id=event.item_id, sku=event.sku)
            changed.add(event.item_id)
        elif isinstance(event, ItemRemoved):
            store.remove_item(conn, item_id=event.item_id)
            changed.add(event.item_id)
        elif isinstance(event, SaleCorrected):
            changed.update(self._correct(conn, self.trade(event), decoded.id))
        elif isinstance(event, SaleVoided):
            changed.update(self._void(conn, event.sale_id))
        else:
            return 0
        return 1

    def _correct(self, conn: Connection, trade: Trade, event_id: str) -> set[int]:
        """Replace the trade; the items whose answers changed."""
        before = store.stored_trade(conn, trade.sale_id)
        store.replace_trade(conn, trade, event_id)
        if before is not None and before.item_id != trade.item_id:
            store.recompute_buckets(conn, item_id=before.item_id, moments=[before.sold_at])
        moments = [trade.sold_at] + ([before.sold_at] if before is not None and before.item_id == trade.item_id else [])
        store.recompute_buckets(conn, item_id=trade.item_id, moments=moments)
        return {trade.item_id} | ({before.item_id} if before is not None else set())

    def _void(self, conn: Connection, sale_id: int) -> set[int]:
        """Remove the trade; the items whose answers changed."""
        before = store.stored_trade(conn, sale_id)
        if before is None:
            return set()
        store.delete_trade(conn, sale_id)
        store.recompute_buckets(conn, item_id=before.item_id, moments=[before.sold_at])
        return {before.item_id}

    def reset(self, conn: Connection) -> None:
        store.truncate_read_model(conn)
        change_feed.announce(conn, None)
