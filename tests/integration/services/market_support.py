"""Helpers of the market's integration tests: its fakes (shared with the unit
tests), contract events as the ACL publishes them, and a store on a real pool."""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "unit" / "market"))

from market_fakes import FakeMonolith, FakeStore

from new_services.contracts.codec import encode
from new_services.contracts.events import (
    DomainEvent,
    ItemAttributes,
    ItemCatalogued,
    ListingOpened,
    PlayerProfile,
    PlayerRegistered,
    SaleRecorded,
)
from new_services.contracts.values import ItemCategory, Money, PlayerStatus, Rarity

__all__ = ["ACL", "T0", "FakeMonolith", "FakeStore", "acl_event", "item", "listing", "player", "sale"]

ACL = "/strangler/acl/legacy-smp"
T0 = dt.datetime(2026, 11, 30, 11, 0, tzinfo=dt.UTC)


def acl_event(event: DomainEvent, *, source: str = ACL, event_id: str | None = None) -> bytes:
    return encode(event, id=event_id or str(uuid.uuid4()), source=source, time=T0)


def player(player_id: int, name: str, status: PlayerStatus = PlayerStatus.ACTIVE) -> PlayerRegistered:
    return PlayerRegistered(
        player_id=player_id, name=name, email=None, status=status, registered_at=T0, profile=PlayerProfile()
    )


def item(item_id: int, *, listable: bool = True) -> ItemCatalogued:
    return ItemCatalogued(
        item_id=item_id,
        sku=f"ITM-{item_id:05d}",
        name=f"item {item_id}",
        category=ItemCategory.MISC,
        rarity=Rarity.COMMON,
        listable=listable,
        catalogued_at=T0,
        attributes=ItemAttributes(),
    )


def listing(
    listing_id: int, *, seller: int = 1, item_id: int = 7, quantity: int = 3, remaining: int = 3, price: int = 1000
) -> ListingOpened:
    return ListingOpened(
        listing_id=listing_id,
        seller_id=seller,
        item_id=item_id,
        quantity=quantity,
        quantity_remaining=remaining,
        unit_price=Money.from_copper(price),
        opened_at=T0,
    )


def sale(
    sale_id: int,
    *,
    listing_id: int,
    buyer: int = 2,
    seller: int = 1,
    item_id: int = 7,
    quantity: int = 1,
    price: int = 1000,
) -> SaleRecorded:
    total = quantity * price
    fee = total * 5 // 100
    return SaleRecorded(
        sale_id=sale_id,
        listing_id=listing_id,
        buyer_id=buyer,
        seller_id=seller,
        item_id=item_id,
        quantity=quantity,
        unit_price=Money.from_copper(price),
        total=Money.from_copper(total),
        fee=Money.from_copper(fee),
        seller_proceeds=Money.from_copper(total - fee),
        sold_at=T0 + dt.timedelta(minutes=sale_id),
    )
