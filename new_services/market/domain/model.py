"""The market's rules, as the monolith applies them (``legacy_monolith/market/services.py``),
in plain Python: what a listing, a player and an item are to the market, and
which refusal an operation gets, in the monolith's order.

A refusal is a value (:class:`Refusal`) carrying the monolith's status, code,
message and extra, so the HTTP edge renders it byte for byte as the
monolith's ``{"detail", "code", "extra"}``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

OPEN, FILLED, CANCELLED, EXPIRED = "O", "F", "C", "X"
LISTING_STATUS_LABELS = {OPEN: "Open", FILLED: "Filled", CANCELLED: "Cancelled", EXPIRED: "Expired"}
ACTIVE, BANNED, DELETED = "A", "B", "D"
PLAYER_STATUS_LABELS = {ACTIVE: "Active", BANNED: "Banned", DELETED: "Deleted"}
#: ``SMP_MARKET_FEE_PERCENT``; the settlement's answer is the truth, this is for fakes and checks.
FEE_PERCENT = 5


@dataclass(eq=False)
class Refusal(Exception):
    """A refused operation, as the monolith words it (not frozen: Python
    sets an exception's traceback when it is raised)."""

    status: int
    code: str
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code, "extra": self.extra}


@dataclass(frozen=True)
class Player:
    player_id: int
    name: str
    status: str


@dataclass(frozen=True)
class Item:
    item_id: int
    sku: str
    listable: bool


@dataclass(frozen=True)
class Listing:
    listing_id: int
    seller_id: int
    item_id: int
    quantity: int
    quantity_remaining: int
    unit_price_copper: int
    status: str
    created_at: dt.datetime  # market wall clock (naive), as the monolith stores it
    updated_at: dt.datetime

    def reserve(self, quantity: int) -> Listing:
        """``quantity`` taken out for a buyer; filled when nothing remains
        (a second buyer racing for the last unit then sees it closed).

        ``updated_at`` stays: in the monolith a buy updates the listing once,
        when the sale is recorded (the saga's confirm step), and a refused buy
        leaves it as it was; the reservation is the saga's own bookkeeping."""
        remaining = self.quantity_remaining - quantity
        return replace(self, quantity_remaining=remaining, status=FILLED if remaining == 0 else OPEN)

    def release(self, quantity: int) -> Listing:
        """A reservation given back (its settlement was refused): the listing
        is as before the buy, ``updated_at`` included (see ``reserve``)."""
        return replace(self, quantity_remaining=self.quantity_remaining + quantity, status=OPEN)


@dataclass(frozen=True)
class Sale:
    sale_id: int
    listing_id: int
    buyer_id: int
    seller_id: int
    item_id: int
    quantity: int
    unit_price_copper: int
    total_copper: int
    fee_copper: int
    sold_at: dt.datetime  # market wall clock (naive)


def market_fee(total_copper: int) -> int:
    return total_copper * FEE_PERCENT // 100


# -- refusals, worded as the monolith's exceptions -----------------------------


def no_player_account() -> Refusal:
    return Refusal(403, "no_player_account", "This user has no player account and cannot trade.")


def require_active(player: Player, role: str) -> None:
    if player.status != ACTIVE:
        label = PLAYER_STATUS_LABELS.get(player.status, player.status).lower()
        raise Refusal(
            403,
            "player_banned",
            f"The {role} {player.name!r} is {label} and cannot trade.",
            {"player_id": player.player_id},
        )


def listing_not_found(listing_id: int) -> Refusal:
    return Refusal(404, "not_found", f"Listing {listing_id} not found.")


def require_open(listing: Listing) -> None:
    if listing.status != OPEN:
        label = LISTING_STATUS_LABELS[listing.status].lower()
        raise Refusal(409, "listing_closed", f"Listing {listing.listing_id} is {label}.", {"status": listing.status})


def check_listable(seller: Player, item: Item) -> None:
    """``listing_create``'s own checks, in its order (the inventory is the monolith's, checked by the escrow)."""
    require_active(seller, "seller")
    if not item.listable:
        raise Refusal(409, "item_inactive", f"Item {item.sku} can no longer be listed.", {"item_id": item.item_id})


def check_cancel(listing: Listing, player_id: int) -> None:
    """``listing_cancel``'s checks, in its order (no ban check: the monolith has none)."""
    if listing.seller_id != player_id:
        raise Refusal(403, "not_listing_owner", f"Listing {listing.listing_id} belongs to another player.")
    require_open(listing)


def check_buy(listing: Listing, buyer: Player, seller: Player, quantity: int) -> None:
    """``sale_record``'s checks before money moves, in its order; the funds
    (and the bans, again) are the settlement's."""
    require_active(buyer, "buyer")
    require_active(seller, "seller")
    if listing.seller_id == buyer.player_id:
        raise Refusal(409, "self_trade", "You cannot buy from your own listing.", {"listing_id": listing.listing_id})
    require_open(listing)
    if quantity > listing.quantity_remaining:
        raise Refusal(
            409,
            "quantity_exceeds_remaining",
            f"Only {listing.quantity_remaining} left on listing {listing.listing_id}, {quantity} requested.",
            {"remaining": listing.quantity_remaining, "requested": quantity},
        )
