"""Fixtures for the monolith's integration tests: players, items and stock
created through the real services, on the session's embedded PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient
from strangler_support import INTERNAL_TOKEN, ControlDatabase

from legacy_monolith.catalog.models import Item
from legacy_monolith.market.models import Listing
from legacy_monolith.market.services import listing_create
from legacy_monolith.players.models import Player, Wallet
from legacy_monolith.players.services import inventory_grant, player_register

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    """PBKDF2 at Django's default cost takes ~0.5 s per user; registration
    tests create many users and do not test hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_player(db: None) -> Callable[..., Player]:
    counter = iter(range(1, 10_000))

    def make(name: str | None = None, *, balance: int | None = None, status: str = "A") -> Player:
        player, token = player_register(name=name or f"player{next(counter)}", password=PASSWORD)
        if balance is not None:
            Wallet.objects.filter(player=player).update(balance_copper=balance)
        if status != "A":
            Player.objects.filter(pk=player.pk).update(status=status)
        player.refresh_from_db()
        player.token = token  # type: ignore[attr-defined]
        return player

    return make


@pytest.fixture
def make_item(db: None) -> Callable[..., Item]:
    counter = iter(range(1, 10_000))

    def make(*, category: str = "WP", rarity: int = 0, active: str = "Y") -> Item:
        n = next(counter)
        return Item.objects.create(
            sku=f"TST-{n:04d}",
            name=f"Test blade {n}",
            category=category,
            rarity=rarity,
            active=active,
            extra='{"lvl_req": 3}',
        )

    return make


@pytest.fixture
def make_listing(make_item: Callable[..., Item]) -> Callable[..., Listing]:
    """A listing created the real way: stock granted, then listed (escrow)."""

    def make(seller: Player, *, item: Item | None = None, quantity: int = 5, price: int = 1_000) -> Listing:
        item = item or make_item()
        inventory_grant(player_id=seller.pk, item_id=item.pk, quantity=quantity)
        return listing_create(seller=seller, item=item, quantity=quantity, unit_price_copper=price)

    return make


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def as_player(api: APIClient) -> Callable[[Player], APIClient]:
    """The API client authenticated with the player's token."""

    def login(player: Player) -> APIClient:
        api.credentials(HTTP_AUTHORIZATION=f"Token {player.token}")  # type: ignore[attr-defined]
        return api

    return login


@pytest.fixture
def internal_api(settings: Any) -> APIClient:
    """A client of ``/_internal/`` sending the configured service token."""
    settings.STRANGLER_INTERNAL_TOKEN = INTERNAL_TOKEN
    client = APIClient()
    client.credentials(HTTP_X_STRANGLER_SERVICE_TOKEN=INTERNAL_TOKEN)
    return client


@pytest.fixture
def control_db(postgres_server: Any, settings: Any) -> Iterator[ControlDatabase]:
    """An empty ``strangler_write_owners`` in a control database the
    monolith is configured to read (``STRANGLER_CONTROL_DATABASE_URL``)."""
    from legacy_monolith.market import ownership

    control = ControlDatabase(postgres_server.create_database("strangler_control_monolith_tests"))
    control.create_table()
    settings.STRANGLER_CONTROL_DATABASE_URL = control.url
    yield control
    ownership._forget_connection()
    control.drop_table()
