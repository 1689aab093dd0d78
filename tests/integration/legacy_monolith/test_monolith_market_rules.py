"""The market's business rules, exercised through the services on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from legacy_monolith.catalog.models import Item
from legacy_monolith.market.models import Listing, Sale
from legacy_monolith.market.services import listing_cancel, listing_create, sale_record
from legacy_monolith.players.models import InventorySlot, Player, Wallet
from legacy_monolith.players.services import inventory_grant
from legacy_monolith.smp.exceptions import (
    InsufficientFunds,
    InsufficientInventory,
    ItemInactive,
    ListingClosed,
    NotListingOwner,
    PlayerBanned,
    QuantityExceedsRemaining,
    SelfTrade,
)

pytestmark = pytest.mark.django_db


def balance(player: Player) -> int:
    return Wallet.objects.get(player=player).balance_copper


def held(player: Player, item_id: int) -> int:
    slot = InventorySlot.objects.filter(player=player, item_id=item_id).first()
    return slot.quantity if slot else 0


def test_registration_gives_the_starting_gold(make_player: Callable[..., Player], settings) -> None:
    assert balance(make_player()) == settings.SMP_STARTING_BALANCE_COPPER


def test_listing_moves_items_into_escrow(make_player: Callable[..., Player], make_item: Callable[..., Item]) -> None:
    seller, item = make_player(), make_item()
    inventory_grant(player_id=seller.pk, item_id=item.pk, quantity=7)
    listing = listing_create(seller=seller, item=item, quantity=5, unit_price_copper=250)
    assert held(seller, item.pk) == 2
    assert (listing.status, listing.quantity, listing.quantity_remaining) == ("O", 5, 5)


def test_listing_more_than_held_is_refused(make_player: Callable[..., Player], make_item: Callable[..., Item]) -> None:
    seller, item = make_player(), make_item()
    inventory_grant(player_id=seller.pk, item_id=item.pk, quantity=2)
    with pytest.raises(InsufficientInventory):
        listing_create(seller=seller, item=item, quantity=3, unit_price_copper=250)
    assert held(seller, item.pk) == 2
    assert not Listing.objects.exists()


def test_inactive_item_cannot_be_listed(make_player: Callable[..., Player], make_item: Callable[..., Item]) -> None:
    seller, item = make_player(), make_item(active="N")
    inventory_grant(player_id=seller.pk, item_id=item.pk, quantity=1)
    with pytest.raises(ItemInactive):
        listing_create(seller=seller, item=item, quantity=1, unit_price_copper=250)


def test_a_sale_moves_gold_items_and_fee(
    make_player: Callable[..., Player], make_listing: Callable[..., Listing]
) -> None:
    seller, buyer = make_player(balance=0), make_player(balance=100_000)
    listing = make_listing(seller, quantity=5, price=1_999)
    sale = sale_record(buyer=buyer, listing_id=listing.pk, quantity=3)
    assert (sale.total_copper, sale.fee_copper) == (5_997, 299)
    assert (sale.seller_id, sale.item_id, sale.unit_price_copper) == (seller.pk, listing.item_id, 1_999)
    assert balance(buyer) == 100_000 - 5_997
    assert balance(seller) == 5_997 - 299
    assert held(buyer, listing.item_id) == 3
    listing.refresh_from_db()
    assert (listing.quantity_remaining, listing.status) == (2, "O")


def test_buying_the_remainder_fills_the_listing(
    make_player: Callable[..., Player], make_listing: Callable[..., Listing]
) -> None:
    listing = make_listing(make_player(), quantity=2)
    sale_record(buyer=make_player(), listing_id=listing.pk, quantity=2)
    listing.refresh_from_db()
    assert (listing.quantity_remaining, listing.status) == (0, "F")


def test_overspend_is_refused_and_changes_nothing(
    make_player: Callable[..., Player], make_listing: Callable[..., Listing]
) -> None:
    seller, buyer = make_player(balance=0), make_player(balance=2_999)
    listing = make_listing(seller, quantity=3, price=1_000)
    with pytest.raises(InsufficientFunds) as refused:
        sale_record(buyer=buyer, listing_id=listing.pk, quantity=3)
    assert refused.value.extra == {"required_cp": 3_000, "balance_cp": 2_999}
    assert (balance(buyer), balance(seller), held(buyer, listing.item_id)) == (2_999, 0, 0)
    listing.refresh_from_db()
    assert listing.quantity_remaining == 3
    assert not Sale.objects.exists()


def test_spending_the_exact_balance_is_allowed(
    make_player: Callable[..., Player], make_listing: Callable[..., Listing]
) -> None:
    buyer = make_player(balance=3_000)
    listing = make_listing(make_player(), quantity=3, price=1_000)
    sale_record(buyer=buyer, listing_id=listing.pk, quantity=3)
    assert balance(buyer) == 0


def test_self_trade_is_refused(make_player: Callable[..., Player], make_listing: Callable[..., Listing]) -> None:
    seller = make_player()
    listing = make_listing(seller)
    with pytest.raises(SelfTrade):
        sale_record(buyer=seller, listing_id=listing.pk, quantity=1)
    assert not Sale.objects.exists()


@pytest.mark.parametrize("status", ["C", "F", "X"])
def test_closed_listing_is_refused(
    status: str, make_player: Callable[..., Player], make_listing: Callable[..., Listing]
) -> None:
    listing = make_listing(make_player())
    Listing.objects.filter(pk=listing.pk).update(status=status)
    with pytest.raises(ListingClosed):
        sale_record(buyer=make_player(), listing_id=listing.pk, quantity=1)


def test_more_than_remaining_is_refused(
    make_player: Callable[..., Player], make_listing: Callable[..., Listing]
) -> None:
    listing = make_listing(make_player(), quantity=2)
    with pytest.raises(QuantityExceedsRemaining) as refused:
        sale_record(buyer=make_player(), listing_id=listing.pk, quantity=3)
    assert refused.value.extra == {"remaining": 2, "requested": 3}


def test_banned_buyer_is_refused(make_player: Callable[..., Player], make_listing: Callable[..., Listing]) -> None:
    listing = make_listing(make_player())
    with pytest.raises(PlayerBanned):
        sale_record(buyer=make_player(status="B"), listing_id=listing.pk, quantity=1)


def test_banned_seller_cannot_sell_or_list(
    make_player: Callable[..., Player], make_item: Callable[..., Item], make_listing: Callable[..., Listing]
) -> None:
    seller = make_player()
    listing = make_listing(seller)
    Player.objects.filter(pk=seller.pk).update(status="B")
    with pytest.raises(PlayerBanned):
        sale_record(buyer=make_player(), listing_id=listing.pk, quantity=1)
    seller.refresh_from_db()
    item = make_item()
    inventory_grant(player_id=seller.pk, item_id=item.pk, quantity=1)
    with pytest.raises(PlayerBanned):
        listing_create(seller=seller, item=item, quantity=1, unit_price_copper=1)


def test_cancel_returns_the_remainder(make_player: Callable[..., Player], make_listing: Callable[..., Listing]) -> None:
    seller = make_player()
    listing = make_listing(seller, quantity=5)
    sale_record(buyer=make_player(), listing_id=listing.pk, quantity=2)
    cancelled = listing_cancel(listing_id=listing.pk, player=seller)
    assert (cancelled.status, cancelled.quantity_remaining) == ("C", 3)
    assert held(seller, listing.item_id) == 3
    with pytest.raises(ListingClosed):
        listing_cancel(listing_id=listing.pk, player=seller)
    assert held(seller, listing.item_id) == 3


def test_only_the_seller_can_cancel(make_player: Callable[..., Player], make_listing: Callable[..., Listing]) -> None:
    listing = make_listing(make_player())
    with pytest.raises(NotListingOwner):
        listing_cancel(listing_id=listing.pk, player=make_player())
    listing.refresh_from_db()
    assert listing.status == "O"
