"""Read side of the ``/_internal/`` API."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser

from legacy_monolith.players.models import Player


@dataclass(frozen=True)
class Identity:
    """Who is behind a legacy API token, as the proxy signs it."""

    user_id: int
    username: str
    player_id: int | None
    player_status: str | None


def identity_for_user(*, user: AbstractBaseUser) -> Identity:
    """The user and their player account, if any (staff users have none)."""
    player = Player.objects.filter(user_id=user.pk).only("id", "status").first()
    return Identity(
        user_id=user.pk,
        username=user.get_username(),
        player_id=player.pk if player else None,
        player_status=player.status if player else None,
    )
