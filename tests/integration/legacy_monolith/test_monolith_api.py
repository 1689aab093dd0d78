"""The monolith's HTTP contract: status codes and JSON shapes of every endpoint.

These shapes are what the strangler proxy's shadow mode compares the new
services against, so they are asserted key by key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from legacy_monolith.catalog.models import Item
from legacy_monolith.market.models import Listing, Sale
from legacy_monolith.players.models import Player
from legacy_monolith.players.services import inventory_grant

pytestmark = pytest.mark.django_db

MONEY_KEYS = {"copper", "display"}
LISTING_KEYS = {
    "id",
    "item_id",
    "seller_id",
    "quantity",
    "quantity_remaining",
    "unit_price",
    "status",
    "status_label",
    "created_at",
    "updated_at",
}
SALE_KEYS = {
    "id",
    "listing_id",
    "item_id",
    "buyer_id",
    "seller_id",
    "quantity",
    "unit_price",
    "total",
    "fee",
    "sold_at",
}
PAGE_KEYS = {"count", "next", "previous", "results"}


# -- players ----------------------------------------------------------------


def test_register_returns_token_and_profile(api: APIClient, settings) -> None:
    response = api.post(
        "/api/players/", {"name": "Aldric", "email": "a@example.com", "password": "s3cret-pass"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "name", "email", "status", "status_label", "created_at", "balance", "token"}
    assert (body["name"], body["status"], body["status_label"]) == ("Aldric", "A", "Active")
    assert body["balance"]["copper"] == settings.SMP_STARTING_BALANCE_COPPER
    assert len(body["token"]) == 40
    assert "password" not in body
    assert dt.datetime.fromisoformat(body["created_at"]).tzinfo is None  # legacy: naive local time

    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert me.post("/api/listings/", {}, format="json").status_code == 400  # authenticated: validation, not 401


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"name", "password"}),
        ({"name": "x", "password": "long enough"}, {"name"}),
        ({"name": "bad name!", "password": "long enough"}, {"name"}),
        ({"name": "Valid", "password": "short"}, {"password"}),
        ({"name": "Valid", "password": "long enough", "email": "not-an-email"}, {"email"}),
    ],
)
def test_register_field_errors(api: APIClient, payload: dict, fields: set[str]) -> None:
    response = api.post("/api/players/", payload, format="json")
    assert response.status_code == 400
    assert set(response.json()) == fields


def test_register_duplicate_name(api: APIClient, make_player: Callable[..., Player]) -> None:
    make_player("Taken")
    response = api.post("/api/players/", {"name": "Taken", "password": "long enough"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"name": ["This name is already taken."]}


def test_malformed_json_is_a_400(api: APIClient) -> None:
    response = api.post("/api/players/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()


def test_player_detail(api: APIClient, make_player: Callable[..., Player], make_item: Callable[..., Item]) -> None:
    player = make_player("Brienne", balance=123_456)
    item = make_item()
    inventory_grant(player_id=player.pk, item_id=item.pk, quantity=4)
    response = api.get(f"/api/players/{player.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "name", "status", "status_label", "created_at", "balance", "inventory"}
    assert body["balance"] == {"copper": 123_456, "display": "12g 34s 56c"}
    assert body["inventory"] == [{"item_id": item.pk, "sku": item.sku, "name": item.name, "quantity": 4}]
    assert "email" not in body


def test_unknown_player_is_a_404(api: APIClient) -> None:
    response = api.get("/api/players/999999/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# -- catalog -----------------------------------------------------------------


def test_item_list_and_filters(api: APIClient, make_item: Callable[..., Item]) -> None:
    sword = make_item(category="WP", rarity=2)
    make_item(category="CS")
    response = api.get("/api/items/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PAGE_KEYS
    assert body["count"] == 2
    first = body["results"][0]
    assert first == {
        "id": sword.pk,
        "sku": sword.sku,
        "name": sword.name,
        "category": "WP",
        "category_label": "Weapon",
        "rarity": 2,
        "rarity_label": "Rare",
        "active": True,
        "created_at": first["created_at"],
        "extra": {"lvl_req": 3},
    }
    assert [i["id"] for i in api.get("/api/items/?category=WP").json()["results"]] == [sword.pk]
    assert api.get("/api/items/?rarity=2").json()["count"] == 1
    assert api.get(f"/api/items/?search={sword.sku.lower()}").json()["count"] == 1
    assert api.get("/api/items/?category=ZZ").status_code == 400
    retired = make_item(active="N")
    assert [i["id"] for i in api.get("/api/items/?active=false").json()["results"]] == [retired.pk]
    assert api.get("/api/items/?active=true").json()["count"] == 2


def test_item_detail_and_404(api: APIClient, make_item: Callable[..., Item]) -> None:
    item = make_item()
    Item.objects.filter(pk=item.pk).update(extra="not json at all")
    response = api.get(f"/api/items/{item.pk}/")
    assert response.status_code == 200
    assert response.json()["extra"] == {}
    assert api.get("/api/items/999999/").status_code == 404


# -- listings ------------------------------------------------------------------


def test_create_listing(
    as_player: Callable[[Player], APIClient], make_player: Callable[..., Player], make_item: Callable[..., Item]
) -> None:
    seller, item = make_player(), make_item()
    inventory_grant(player_id=seller.pk, item_id=item.pk, quantity=3)
    response = as_player(seller).post(
        "/api/listings/", {"item": item.pk, "quantity": 2, "unit_price_copper": 12_345}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == LISTING_KEYS
    assert body["unit_price"] == {"copper": 12_345, "display": "1g 23s 45c"}
    assert (body["seller_id"], body["item_id"], body["quantity_remaining"], body["status"]) == (
        seller.pk,
        item.pk,
        2,
        "O",
    )


def test_create_listing_errors(
    as_player: Callable[[Player], APIClient],
    make_player: Callable[..., Player],
    make_item: Callable[..., Item],
    api: APIClient,
) -> None:
    item = make_item()
    payload = {"item": item.pk, "quantity": 2, "unit_price_copper": 100}
    assert api.post("/api/listings/", payload, format="json").status_code == 401
    client = as_player(make_player())
    no_stock = client.post("/api/listings/", payload, format="json")
    assert no_stock.status_code == 409
    assert no_stock.json()["code"] == "insufficient_inventory"
    bad = client.post(
        "/api/listings/", {"item": 999_999, "quantity": 0, "unit_price_copper": "x", "junk": 1}, format="json"
    )
    assert bad.status_code == 400
    assert set(bad.json()) == {"item", "quantity", "unit_price_copper"}


def test_list_listings_with_filters(
    api: APIClient, make_player: Callable[..., Player], make_listing: Callable[..., Listing]
) -> None:
    seller = make_player()
    first, second = make_listing(seller), make_listing(make_player())
    Listing.objects.filter(pk=first.pk).update(status="C")
    body = api.get("/api/listings/").json()
    assert [row["id"] for row in body["results"]] == [second.pk, first.pk]
    assert set(body["results"][0]) == LISTING_KEYS
    assert [r["id"] for r in api.get("/api/listings/?status=O").json()["results"]] == [second.pk]
    assert [r["id"] for r in api.get(f"/api/listings/?seller={seller.pk}").json()["results"]] == [first.pk]
    assert api.get("/api/listings/?item=abc").status_code == 400


def test_cancel_listing(
    as_player: Callable[[Player], APIClient],
    make_player: Callable[..., Player],
    make_listing: Callable[..., Listing],
    api: APIClient,
) -> None:
    seller, other = make_player(), make_player()
    listing = make_listing(seller)
    assert api.post(f"/api/listings/{listing.pk}/cancel/").status_code == 401
    forbidden = as_player(other).post(f"/api/listings/{listing.pk}/cancel/")
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "not_listing_owner")
    ok = as_player(seller).post(f"/api/listings/{listing.pk}/cancel/")
    assert ok.status_code == 200
    assert (ok.json()["status"], ok.json()["status_label"]) == ("C", "Cancelled")
    again = as_player(seller).post(f"/api/listings/{listing.pk}/cancel/")
    assert again.status_code == 409
    assert again.json() == {
        "detail": f"Listing {listing.pk} is cancelled.",
        "code": "listing_closed",
        "extra": {"status": "C"},
    }
    assert as_player(seller).post("/api/listings/999999/cancel/").status_code == 404


# -- sales ---------------------------------------------------------------------


def test_record_sale(
    as_player: Callable[[Player], APIClient], make_player: Callable[..., Player], make_listing: Callable[..., Listing]
) -> None:
    seller, buyer = make_player(), make_player()
    listing = make_listing(seller, quantity=5, price=2_000)
    response = as_player(buyer).post("/api/sales/", {"listing": listing.pk, "quantity": 2}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == SALE_KEYS
    assert body["total"] == {"copper": 4_000, "display": "40s 0c"}
    assert body["fee"] == {"copper": 200, "display": "2s 0c"}
    assert (body["buyer_id"], body["seller_id"], body["listing_id"], body["quantity"]) == (
        buyer.pk,
        seller.pk,
        listing.pk,
        2,
    )


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("overspend", 409, "insufficient_funds"),
        ("self_trade", 409, "self_trade"),
        ("closed", 409, "listing_closed"),
        ("too_many", 409, "quantity_exceeds_remaining"),
        ("banned", 403, "player_banned"),
    ],
)
def test_refused_sales(
    case: str,
    status: int,
    code: str,
    as_player: Callable[[Player], APIClient],
    make_player: Callable[..., Player],
    make_listing: Callable[..., Listing],
) -> None:
    seller = make_player()
    buyer = {
        "overspend": lambda: make_player(balance=10),
        "self_trade": lambda: seller,
        "banned": lambda: make_player(status="B"),
    }.get(case, make_player)()
    listing = make_listing(seller, quantity=2, price=1_000)
    if case == "closed":
        Listing.objects.filter(pk=listing.pk).update(status="X")
    response = as_player(buyer).post(
        "/api/sales/", {"listing": listing.pk, "quantity": 3 if case == "too_many" else 1}, format="json"
    )
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"detail", "code", "extra"}
    assert body["code"] == code
    assert not Sale.objects.exists()


def test_record_sale_input_errors(
    as_player: Callable[[Player], APIClient], make_player: Callable[..., Player], api: APIClient
) -> None:
    assert api.post("/api/sales/", {"listing": 1, "quantity": 1}, format="json").status_code == 401
    bad = as_player(make_player()).post("/api/sales/", {"listing": 999_999, "quantity": -1}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()) == {"listing", "quantity"}


def test_token_of_a_staff_user_without_player_cannot_trade(
    django_user_model, api: APIClient, make_player: Callable[..., Player], make_listing: Callable[..., Listing]
) -> None:
    from rest_framework.authtoken.models import Token

    admin = django_user_model.objects.create_user(username="ops", password="x" * 10, is_staff=True)
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=admin).key}")
    listing = make_listing(make_player())
    response = api.post("/api/sales/", {"listing": listing.pk, "quantity": 1}, format="json")
    assert (response.status_code, response.json()["code"]) == (403, "no_player_account")


def test_list_sales_with_filters(
    api: APIClient, make_player: Callable[..., Player], make_listing: Callable[..., Listing]
) -> None:
    from legacy_monolith.market.services import sale_record

    buyer = make_player()
    one, two = make_listing(make_player()), make_listing(make_player())
    sale_one = sale_record(buyer=buyer, listing_id=one.pk, quantity=1)
    sale_two = sale_record(buyer=make_player(), listing_id=two.pk, quantity=1)
    body = api.get("/api/sales/").json()
    assert set(body) == PAGE_KEYS
    assert [s["id"] for s in body["results"]] == [sale_two.pk, sale_one.pk]
    assert set(body["results"][0]) == SALE_KEYS
    assert [s["id"] for s in api.get(f"/api/sales/?item={one.item_id}").json()["results"]] == [sale_one.pk]
    assert [s["id"] for s in api.get(f"/api/sales/?buyer={buyer.pk}").json()["results"]] == [sale_one.pk]
    assert api.get("/api/sales/?limit=1").json()["next"] is not None
    assert api.get("/api/sales/?item=-3").status_code == 400


# -- schema ------------------------------------------------------------------


def test_openapi_schema_lists_every_endpoint(api: APIClient) -> None:
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    import json

    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) >= {
        "/api/items/",
        "/api/items/{item_id}/",
        "/api/items/{item_id}/rate/",
        "/api/items/{item_id}/history/",
        "/api/listings/",
        "/api/listings/{listing_id}/cancel/",
        "/api/sales/",
        "/api/players/",
        "/api/players/{player_id}/",
    }
