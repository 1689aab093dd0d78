"""Read-side queries of the players context (HackSoft selectors).

Selectors never write and never lock; services lock what they change.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from legacy_monolith.players.models import InventorySlot, Player
from legacy_monolith.smp.exceptions import NoPlayerAccount, NotFound


def player_get(*, player_id: int) -> Player:
    """The player with its wallet joined; ``NotFound`` (404) if missing."""
    player = Player.objects.select_related("wallet").filter(pk=player_id).first()
    if player is None:
        raise NotFound(f"Player {player_id} not found.")
    return player


def player_for_user(*, user: AbstractBaseUser | AnonymousUser) -> Player:
    """The game account behind an authenticated API user.

    Staff users created with ``createsuperuser`` have no player; they may use
    the admin but cannot trade, hence a 403 rather than a crash.
    """
    player = Player.objects.filter(user_id=getattr(user, "pk", None)).first()
    if player is None:
        raise NoPlayerAccount("This user has no player account and cannot trade.")
    return player


def player_name_taken(*, name: str) -> bool:
    """Names are unique case-sensitively, as ``smp_plyr.nm`` is; the auth
    username must be free too because registration reuses the name."""
    from django.contrib.auth import get_user_model

    return Player.objects.filter(name=name).exists() or get_user_model().objects.filter(username=name).exists()


def player_inventory(*, player_id: int) -> QuerySet[InventorySlot]:
    """Non-empty inventory slots with their items (zero slots are kept in the
    table but mean nothing to a reader)."""
    return InventorySlot.objects.filter(player_id=player_id, quantity__gt=0).select_related("item").order_by("item_id")
