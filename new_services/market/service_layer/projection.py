"""The market projection: its store built from the ACL's events on
``smp.market.v1``, ``smp.players.v1`` and ``smp.catalog.v1``.

- Idempotent upserts by aggregate id: a re-delivered event or a new CDC
  snapshot (same rows, new event ids) is absorbed.
- Its own events (CloudEvents ``source`` ``/strangler/market``, published by
  its outbox) are skipped by :class:`MarketProjector` before decoding: the
  store already holds what they say, and often more (a later local write).
- A legacy listing event never regresses a newer local state: a listing's
  status only leaves ``O`` (a closed listing stays closed), its remaining
  quantity only goes down (``LEAST``), its price and ``updated_at`` follow
  only events at least as recent as the row.
- ``listings_id_seq`` / ``sales_id_seq`` are moved above every id seen, in
  the batch's transaction (``setval(GREATEST(...))``), so ids the market
  hands out never collide with the monolith's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, text

from new_services.contracts.codec import DecodedEvent, MalformedEvent, UnknownEventType
from new_services.contracts.events import (
    ItemCatalogued,
    ItemDeactivated,
    ItemReactivated,
    ItemRemoved,
    ItemRevised,
    ListingAmended,
    ListingCancelled,
    ListingExpired,
    ListingFilled,
    ListingOpened,
    ListingRemoved,
    PlayerBanned,
    PlayerDeleted,
    PlayerProfileChanged,
    PlayerRegistered,
    PlayerReinstated,
    SaleCorrected,
    SaleRecorded,
    SaleVoided,
)
from new_services.contracts.values import ListingStatus, PlayerStatus
from new_services.market.domain.clock import MarketClock
from new_services.platform.consumer import BatchOutcome, Projector, Record

log = logging.getLogger(__name__)

#: The CloudEvents source of the events the market publishes.
SOURCE = "/strangler/market"

HANDLED = (
    ListingOpened,
    ListingAmended,
    ListingFilled,
    ListingCancelled,
    ListingExpired,
    ListingRemoved,
    SaleRecorded,
    SaleCorrected,
    SaleVoided,
    PlayerRegistered,
    PlayerProfileChanged,
    PlayerBanned,
    PlayerReinstated,
    PlayerDeleted,
    ItemCatalogued,
    ItemRevised,
    ItemDeactivated,
    ItemReactivated,
    ItemRemoved,
)
TOPICS: tuple[str, ...] = ("smp.market.v1", "smp.players.v1", "smp.catalog.v1")
STATUS_CODES = {
    ListingStatus.OPEN: "O",
    ListingStatus.FILLED: "F",
    ListingStatus.CANCELLED: "C",
    ListingStatus.EXPIRED: "X",
}
PLAYER_CODES = {PlayerStatus.ACTIVE: "A", PlayerStatus.BANNED: "B", PlayerStatus.DELETED: "D"}

_OPEN_LISTING = text(
    """INSERT INTO listings (listing_id, seller_id, item_id, quantity, quantity_remaining, unit_price, status,
                             created_at, updated_at)
       VALUES (:listing_id, :seller_id, :item_id, :quantity, :remaining, :price, 'O', :at, :at)
       ON CONFLICT (listing_id) DO UPDATE
          SET quantity_remaining = LEAST(listings.quantity_remaining, EXCLUDED.quantity_remaining)"""
)
_AMEND_LISTING = text(
    """UPDATE listings
          SET quantity_remaining = LEAST(quantity_remaining, :remaining),
              unit_price = CASE WHEN :at >= updated_at THEN :price ELSE unit_price END,
              updated_at = GREATEST(updated_at, :at)
        WHERE listing_id = :listing_id"""
)
_CLOSE_LISTING = text(
    """UPDATE listings SET status = :status, updated_at = GREATEST(updated_at, :at)
        WHERE listing_id = :listing_id AND status = 'O'"""
)
_SALE_COLUMNS = "sale_id, listing_id, buyer_id, seller_id, item_id, quantity, unit_price, total, fee, sold_at"
_SALE_VALUES = ":sale_id, :listing_id, :buyer_id, :seller_id, :item_id, :quantity, :unit_price, :total, :fee, :sold_at"
_RECORD_SALE = text(f"INSERT INTO sales ({_SALE_COLUMNS}) VALUES ({_SALE_VALUES}) ON CONFLICT (sale_id) DO NOTHING")
_CORRECT_SALE = text(
    f"""INSERT INTO sales ({_SALE_COLUMNS}) VALUES ({_SALE_VALUES})
        ON CONFLICT (sale_id) DO UPDATE SET listing_id = EXCLUDED.listing_id, buyer_id = EXCLUDED.buyer_id,
           seller_id = EXCLUDED.seller_id, item_id = EXCLUDED.item_id, quantity = EXCLUDED.quantity,
           unit_price = EXCLUDED.unit_price, total = EXCLUDED.total, fee = EXCLUDED.fee, sold_at = EXCLUDED.sold_at"""
)
_UPSERT_PLAYER = text(
    """INSERT INTO players (player_id, name, status) VALUES (:player_id, :name, :status)
       ON CONFLICT (player_id) DO UPDATE SET name = EXCLUDED.name, status = EXCLUDED.status"""
)
_RENAME_PLAYER = text(
    """INSERT INTO players (player_id, name, status) VALUES (:player_id, :name, 'A')
       ON CONFLICT (player_id) DO UPDATE SET name = EXCLUDED.name"""
)
_PLAYER_STATUS = text("UPDATE players SET status = :status WHERE player_id = :player_id")
_UPSERT_ITEM = text(
    """INSERT INTO items (item_id, sku, listable) VALUES (:item_id, :sku, :listable)
       ON CONFLICT (item_id) DO UPDATE SET sku = EXCLUDED.sku, listable = EXCLUDED.listable"""
)
_REVISE_ITEM = text(
    """INSERT INTO items (item_id, sku, listable) VALUES (:item_id, :sku, true)
       ON CONFLICT (item_id) DO UPDATE SET sku = EXCLUDED.sku"""
)
_ITEM_LISTABLE = text("UPDATE items SET listable = :listable WHERE item_id = :item_id")


def _raise_sequence(conn: Connection, sequence: str, seen: int) -> None:
    conn.execute(
        text(f"SELECT setval('{sequence}', GREATEST((SELECT last_value FROM {sequence}), :seen))"), {"seen": seen}
    )


class MarketProjection:
    """Implements ``new_services.platform.consumer.Projection``."""

    consumer = "market"
    topics = TOPICS
    event_types = frozenset(cls.cloudevent_type() for cls in HANDLED)

    def __init__(self, clock: MarketClock) -> None:
        self.clock = clock

    def apply(self, conn: Connection, events: Sequence[DecodedEvent]) -> int:
        applied = 0
        max_listing = max_sale = 0
        for decoded in events:
            event = decoded.event
            if isinstance(event, ListingOpened):
                max_listing = max(max_listing, event.listing_id)
            elif isinstance(event, (SaleRecorded, SaleCorrected)):
                max_sale = max(max_sale, event.sale_id)
                max_listing = max(max_listing, event.listing_id)
            applied += self.apply_one(conn, event)
        if max_listing:
            _raise_sequence(conn, "listings_id_seq", max_listing)
        if max_sale:
            _raise_sequence(conn, "sales_id_seq", max_sale)
        return applied

    def apply_one(self, conn: Connection, event: Any) -> int:
        """One event's effect; 1 if a row changed."""
        wall = self.clock.wall_clock
        statement: Any
        params: dict[str, Any]
        if isinstance(event, ListingOpened):
            statement, params = (
                _OPEN_LISTING,
                {
                    "listing_id": event.listing_id,
                    "seller_id": event.seller_id,
                    "item_id": event.item_id,
                    "quantity": event.quantity,
                    "remaining": event.quantity_remaining,
                    "price": event.unit_price.to_copper(),
                    "at": wall(event.opened_at),
                },
            )
        elif isinstance(event, ListingAmended):
            statement, params = (
                _AMEND_LISTING,
                {
                    "listing_id": event.listing_id,
                    "remaining": event.quantity_remaining,
                    "price": event.unit_price.to_copper(),
                    "at": wall(event.amended_at),
                },
            )
        elif isinstance(event, (ListingFilled, ListingCancelled, ListingExpired)):
            status = {ListingFilled: "F", ListingCancelled: "C", ListingExpired: "X"}[type(event)]
            statement, params = (
                _CLOSE_LISTING,
                {
                    "listing_id": event.listing_id,
                    "status": status,
                    "at": wall(event.closed_at),
                },
            )
        elif isinstance(event, ListingRemoved):
            statement, params = text("DELETE FROM listings WHERE listing_id = :id"), {"id": event.listing_id}
        elif isinstance(event, (SaleRecorded, SaleCorrected)):
            statement = _RECORD_SALE if isinstance(event, SaleRecorded) else _CORRECT_SALE
            params = {
                "sale_id": event.sale_id,
                "listing_id": event.listing_id,
                "buyer_id": event.buyer_id,
                "seller_id": event.seller_id,
                "item_id": event.item_id,
                "quantity": event.quantity,
                "unit_price": event.unit_price.to_copper(),
                "total": event.total.to_copper(),
                "fee": event.fee.to_copper(),
                "sold_at": wall(event.sold_at),
            }
        elif isinstance(event, SaleVoided):
            statement, params = text("DELETE FROM sales WHERE sale_id = :id"), {"id": event.sale_id}
        else:
            return self._apply_reference(conn, event)
        return 1 if conn.execute(statement, params).rowcount else 0

    def _apply_reference(self, conn: Connection, event: Any) -> int:
        """Players and items: only what the rules need."""
        statement: Any
        if isinstance(event, PlayerRegistered):
            statement = _UPSERT_PLAYER
            params = {"player_id": event.player_id, "name": event.name, "status": PLAYER_CODES[event.status]}
        elif isinstance(event, PlayerProfileChanged):
            statement, params = _RENAME_PLAYER, {"player_id": event.player_id, "name": event.name}
        elif isinstance(event, (PlayerBanned, PlayerReinstated)):
            status = "B" if isinstance(event, PlayerBanned) else "A"
            statement, params = _PLAYER_STATUS, {"player_id": event.player_id, "status": status}
        elif isinstance(event, PlayerDeleted):
            if event.hard:
                statement, params = text("DELETE FROM players WHERE player_id = :player_id"), {}
            else:
                statement, params = _PLAYER_STATUS, {"status": "D"}
            params["player_id"] = event.player_id
        elif isinstance(event, ItemCatalogued):
            statement = _UPSERT_ITEM
            params = {"item_id": event.item_id, "sku": event.sku, "listable": event.listable}
        elif isinstance(event, ItemRevised):
            statement, params = _REVISE_ITEM, {"item_id": event.item_id, "sku": event.sku}
        elif isinstance(event, (ItemDeactivated, ItemReactivated)):
            statement = _ITEM_LISTABLE
            params = {"item_id": event.item_id, "listable": isinstance(event, ItemReactivated)}
        elif isinstance(event, ItemRemoved):
            statement, params = text("DELETE FROM items WHERE item_id = :item_id"), {"item_id": event.item_id}
        else:
            return 0
        return 1 if conn.execute(statement, params).rowcount else 0

    def reset(self, conn: Connection) -> None:
        """A rebuild forgets the reference data (players, items) only.

        Listings and sales the market wrote itself exist on the stream only as
        its own events, which the projector skips: truncating them would lose
        them. The legacy stream replayed over them merges monotonically."""
        conn.execute(text("TRUNCATE players, items"))


class MarketProjector(Projector):
    """The platform's projector, skipping the market's own events (counted as ignored)."""

    def decode(self, record: Record, outcome: BatchOutcome) -> DecodedEvent | None:
        if record.value is None:
            return None
        try:
            message = orjson.loads(record.value)
            if not isinstance(message, dict):
                raise MalformedEvent("a CloudEvent is a JSON object")
            if message.get("source") == SOURCE:
                outcome.ignored += 1
                return None
            event_type = message.get("type")
            current = self._codec.reads_as(event_type) if isinstance(event_type, str) else None
            if current is None:
                raise UnknownEventType(str(event_type))
            if current not in self.projection.event_types:
                outcome.ignored += 1
                return None
            return self._codec.from_message(message)
        except UnknownEventType as exc:
            outcome.skipped += 1
            log.debug("%s[%d]@%d: skipped %s", record.topic, record.partition, record.offset, exc)
        except (MalformedEvent, orjson.JSONDecodeError) as exc:
            outcome.rejected += 1
            log.warning("%s[%d]@%d: rejected: %s", record.topic, record.partition, record.offset, exc)
        return None
