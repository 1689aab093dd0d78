"""Every legacy model has a working admin changelist with readable money."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from legacy_monolith.market.models import Listing
from legacy_monolith.market.services import sale_record
from legacy_monolith.players.models import Player

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "/admin/players/player/",
    "/admin/players/wallet/",
    "/admin/players/inventoryslot/",
    "/admin/catalog/item/",
    "/admin/market/listing/",
    "/admin/market/sale/",
]


@pytest.fixture
def market(make_player: Callable[..., Player], make_listing: Callable[..., Listing]) -> Listing:
    listing = make_listing(make_player("Sellwen", balance=0), quantity=3, price=12_345)
    sale_record(buyer=make_player("Buyric"), listing_id=listing.pk, quantity=1)
    return listing


@pytest.mark.parametrize("url", CHANGELISTS)
def test_changelist_renders_for_a_superuser(url: str, admin_client: Client, market: Listing) -> None:
    response = admin_client.get(url)
    assert response.status_code == 200
    assert b"result_list" in response.content  # the table is there, with rows


def test_money_and_status_are_readable(admin_client: Client, market: Listing) -> None:
    listings = admin_client.get("/admin/market/listing/").content.decode()
    assert "1g 23s 45c" in listings and "Open" in listings
    sales = admin_client.get("/admin/market/sale/?q=Buyric").content.decode()
    assert "1g 23s 45c" in sales and "6s 17c" in sales  # unit price and the 5 % fee


def test_changelists_are_closed_to_anonymous_users(client: Client) -> None:
    response = client.get(CHANGELISTS[0])
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_ensure_superuser_creates_then_updates_from_a_password_file(tmp_path, client) -> None:
    from django.core.management import call_command

    password_file = tmp_path / "admin-password"
    password_file.write_text("first-long-password\n")
    call_command("ensure_superuser", "--username", "boss", "--password-file", str(password_file))
    assert client.login(username="boss", password="first-long-password")
    password_file.write_text("second-long-password\n")
    call_command("ensure_superuser", "--username", "boss", "--password-file", str(password_file))
    assert not client.login(username="boss", password="first-long-password")
    assert client.login(username="boss", password="second-long-password")
    assert client.get("/admin/").status_code == 200
