"""Write-side rules of the market: list, cancel, buy.

Each operation is one transaction that locks the listing first, then the
wallets in player-id order, then inventory slots: the same order everywhere,
so concurrent trades wait for each other instead of deadlocking or
double-selling. Two buyers racing for the last unit of a listing both wait on
the listing row; the second one sees it filled and gets ``ListingClosed``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from legacy_monolith.catalog.models import Item
from legacy_monolith.market.models import Listing, ListingStatus, Sale
from legacy_monolith.players.models import Player
from legacy_monolith.players.services import (
    inventory_grant,
    inventory_take,
    player_require_active,
    wallet_credit,
    wallet_debit,
    wallets_lock,
)
from legacy_monolith.smp.exceptions import (
    ItemInactive,
    ListingClosed,
    NotFound,
    NotListingOwner,
    QuantityExceedsRemaining,
    SelfTrade,
)


def market_fee(*, total_copper: int) -> int:
    """The house's cut of a sale: ``SMP_MARKET_FEE_PERCENT`` of the total,
    rounded down (the seller keeps the odd copper)."""
    return total_copper * settings.SMP_MARKET_FEE_PERCENT // 100


def _listing_lock(*, listing_id: int) -> Listing:
    listing = Listing.objects.select_for_update().filter(pk=listing_id).first()
    if listing is None:
        raise NotFound(f"Listing {listing_id} not found.")
    return listing


def _require_open(*, listing: Listing) -> None:
    if listing.status != ListingStatus.OPEN:
        label = ListingStatus(listing.status).label.lower()
        raise ListingClosed(f"Listing {listing.pk} is {label}.", extra={"status": listing.status})


@transaction.atomic
def listing_create(*, seller: Player, item: Item, quantity: int, unit_price_copper: int) -> Listing:
    """Offer ``quantity`` of ``item`` at ``unit_price_copper`` each; the items
    leave the seller's inventory into escrow until sold or cancelled."""
    player_require_active(player=seller, role="seller")
    if item.active != "Y":
        raise ItemInactive(f"Item {item.sku} can no longer be listed.", extra={"item_id": item.pk})
    inventory_take(player_id=seller.pk, item_id=item.pk, quantity=quantity)
    return Listing.objects.create(
        seller=seller,
        item=item,
        quantity=quantity,
        quantity_remaining=quantity,
        unit_price_copper=unit_price_copper,
        status=ListingStatus.OPEN,
    )


@transaction.atomic
def listing_cancel(*, listing_id: int, player: Player) -> Listing:
    """The seller withdraws an open listing; the unsold remainder goes back
    to their inventory. ``qty_rem`` is kept as the quantity returned."""
    listing = _listing_lock(listing_id=listing_id)
    if listing.seller_id != player.pk:
        raise NotListingOwner(f"Listing {listing.pk} belongs to another player.")
    _require_open(listing=listing)
    inventory_grant(player_id=player.pk, item_id=listing.item_id, quantity=listing.quantity_remaining)
    listing.status = ListingStatus.CANCELLED
    listing.save(update_fields=["status", "updated_at"])
    return listing


@transaction.atomic
def sale_record(*, buyer: Player, listing_id: int, quantity: int) -> Sale:
    """Buy ``quantity`` from a listing at its price.

    Refuses (in this order): banned buyer or seller, buying from yourself,
    a listing that is not open, more than remains, more than the buyer can
    pay. On success the buyer pays the total, the seller gets the total minus
    the fee, the items move from escrow to the buyer, and the listing is
    marked filled when nothing remains.
    """
    listing = _listing_lock(listing_id=listing_id)
    player_require_active(player=buyer, role="buyer")
    player_require_active(player=listing.seller, role="seller")
    if listing.seller_id == buyer.pk:
        raise SelfTrade("You cannot buy from your own listing.", extra={"listing_id": listing.pk})
    _require_open(listing=listing)
    if quantity > listing.quantity_remaining:
        raise QuantityExceedsRemaining(
            f"Only {listing.quantity_remaining} left on listing {listing.pk}, {quantity} requested.",
            extra={"remaining": listing.quantity_remaining, "requested": quantity},
        )
    total = quantity * listing.unit_price_copper
    fee = market_fee(total_copper=total)
    wallets = wallets_lock(player_ids=[buyer.pk, listing.seller_id])
    wallet_debit(wallet=wallets[buyer.pk], amount_copper=total)
    wallet_credit(wallet=wallets[listing.seller_id], amount_copper=total - fee)
    inventory_grant(player_id=buyer.pk, item_id=listing.item_id, quantity=quantity)
    listing.quantity_remaining -= quantity
    if listing.quantity_remaining == 0:
        listing.status = ListingStatus.FILLED
    listing.save(update_fields=["quantity_remaining", "status", "updated_at"])
    return Sale.objects.create(
        listing=listing,
        buyer=buyer,
        seller_id=listing.seller_id,
        item_id=listing.item_id,
        quantity=quantity,
        unit_price_copper=listing.unit_price_copper,
        total_copper=total,
        fee_copper=fee,
        sold_at=timezone.now(),
    )
