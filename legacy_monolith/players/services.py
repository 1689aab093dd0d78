"""Write-side rules of the players context: registration, wallets, inventory.

Every function that changes a balance or a slot expects to run inside the
caller's ``transaction.atomic()`` and locks the rows it changes with
``SELECT ... FOR UPDATE``, so concurrent trades serialise on the rows they
share instead of losing updates.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from rest_framework.authtoken.models import Token

from legacy_monolith.players.models import InventorySlot, Player, PlayerStatus, Wallet
from legacy_monolith.smp.exceptions import InsufficientFunds, InsufficientInventory, PlayerBanned
from legacy_monolith.smp.money import format_copper


@transaction.atomic
def player_register(*, name: str, email: str = "", password: str) -> tuple[Player, str]:
    """Create the auth user, the player, its wallet with the starting gold and
    an API token; return the player and the token key.

    The auth username is the player name: the monolith has always logged
    players in by name.
    """
    user = get_user_model().objects.create_user(username=name, email=email, password=password)
    player = Player.objects.create(user=user, name=name, email=email, extra="{}")
    Wallet.objects.create(player=player, balance_copper=settings.SMP_STARTING_BALANCE_COPPER)
    token = Token.objects.create(user=user)
    return player, token.key


def player_require_active(*, player: Player, role: str = "player") -> None:
    """Refuse any trade by a banned or deleted account (403)."""
    if player.status != PlayerStatus.ACTIVE:
        label = PlayerStatus(player.status).label.lower()
        raise PlayerBanned(f"The {role} {player.name!r} is {label} and cannot trade.", extra={"player_id": player.pk})


def wallets_lock(*, player_ids: Iterable[int]) -> dict[int, Wallet]:
    """Lock the wallets of ``player_ids`` in ascending id order.

    The fixed order is what keeps two crossing trades (A buys from B while B
    buys from A) from deadlocking.
    """
    wallets = Wallet.objects.select_for_update().filter(player_id__in=sorted(set(player_ids))).order_by("player_id")
    return {wallet.player_id: wallet for wallet in wallets}


def wallet_debit(*, wallet: Wallet, amount_copper: int) -> None:
    """Take ``amount_copper`` from a locked wallet; refuse overspend (409)."""
    if wallet.balance_copper < amount_copper:
        raise InsufficientFunds(
            f"Not enough gold: {format_copper(amount_copper)} needed, "
            f"{format_copper(wallet.balance_copper)} available.",
            extra={"required_cp": amount_copper, "balance_cp": wallet.balance_copper},
        )
    wallet.balance_copper -= amount_copper
    wallet.save(update_fields=["balance_copper", "updated_at"])


def wallet_credit(*, wallet: Wallet, amount_copper: int) -> None:
    """Add ``amount_copper`` to a locked wallet."""
    wallet.balance_copper += amount_copper
    wallet.save(update_fields=["balance_copper", "updated_at"])


def inventory_grant(*, player_id: int, item_id: int, quantity: int) -> None:
    """Put ``quantity`` of an item into a player's inventory (a purchase, a
    cancelled listing's remainder, or loot from the game server).

    ``get_or_create`` survives a concurrent first insert of the same slot;
    the increment is done in SQL so it cannot lose a concurrent update.
    """
    slot, _ = InventorySlot.objects.get_or_create(player_id=player_id, item_id=item_id)
    InventorySlot.objects.filter(pk=slot.pk).update(quantity=F("quantity") + quantity)


def inventory_take(*, player_id: int, item_id: int, quantity: int) -> None:
    """Remove ``quantity`` of an item from a player's inventory; refuse if the
    player holds fewer (409). The slot row is locked for the check."""
    slot = InventorySlot.objects.select_for_update().filter(player_id=player_id, item_id=item_id).first()
    held = slot.quantity if slot else 0
    if slot is None or held < quantity:
        raise InsufficientInventory(
            f"Not enough items: {quantity} needed, {held} held.",
            extra={"required_qty": quantity, "held_qty": held, "item_id": item_id},
        )
    slot.quantity -= quantity
    slot.save(update_fields=["quantity"])
