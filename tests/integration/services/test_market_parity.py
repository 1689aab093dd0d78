"""The market answers as the monolith does, byte for byte, for the same
data and the same requests: the monolith's rows are created through its
own services (Django, the session's PostgreSQL), mirrored into a market
store, and every request is sent to both (DRF's test client; the market's
ASGI app with the identity header the proxy would sign)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from market_support import FakeMonolith
from rest_framework.test import APIClient

from new_services.market.adapters.store import PgMarketStore
from new_services.market.bootstrap import SCRIPT_LOCATION, bootstrap
from new_services.market.domain.clock import MarketClock
from new_services.market.entrypoints.http import create_app
from new_services.market.service_layer.writes import MarketWrites
from new_services.market.settings import MarketSettings
from new_services.platform.identity import Identity, ensure_key_file, sign
from new_services.platform.migrations import upgrade
from new_services.platform.settings import database_url
from strangler_proxy.store import WRITE_OWNERS_SCHEMA

pytestmark = pytest.mark.django_db(transaction=True)

GETS = [
    "/api/listings/",
    "/api/listings/?limit=2",
    "/api/listings/?limit=2&offset=2",
    "/api/listings/?offset=1&limit=abc",
    "/api/listings/?status=O&seller=1",
    "/api/listings/?status=Q&item=0",
    "/api/listings/?item=1.0&format=json",
    "/api/listings/?format=xml",
    "/api/sales/",
    "/api/sales/?limit=1&offset=1",
    "/api/sales/?buyer=x&listing=-1",
    "/api/sales/?listing=99999",
]


def legacy_world() -> dict[str, Any]:
    """Players, an inactive and an active item, listings in every state, sales."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from legacy_monolith.catalog.models import Item
    from legacy_monolith.market.services import listing_cancel, listing_create, sale_record
    from legacy_monolith.players.models import Player
    from legacy_monolith.players.services import inventory_grant, player_register

    seller, seller_token = player_register(name="sella", password="x")
    buyer, buyer_token = player_register(name="buyo", password="x")
    banned, banned_token = player_register(name="o'brien", password="x")
    Player.objects.filter(pk=banned.pk).update(status="B")
    staff = get_user_model().objects.create_user(username="staff", password="x")
    staff_token = Token.objects.create(user=staff).key
    blade = Item.objects.create(sku="WPN-0001", name="blade", category="WP", rarity=0, active="Y", extra="{}")
    old = Item.objects.create(sku="WPN-0002", name="old", category="WP", rarity=0, active="N", extra="{}")
    inventory_grant(player_id=seller.pk, item_id=blade.pk, quantity=100)
    listings = [listing_create(seller=seller, item=blade, quantity=5, unit_price_copper=12345 + n) for n in range(4)]
    sale_record(buyer=buyer, listing_id=listings[0].pk, quantity=5)
    sale_record(buyer=buyer, listing_id=listings[1].pk, quantity=2)
    listing_cancel(listing_id=listings[2].pk, player=seller)
    return {
        "players": {p.pk: (p.name, Player.objects.get(pk=p.pk).status) for p in (seller, buyer, banned)},
        "tokens": {
            "seller": (seller_token, seller.pk, seller.user_id),
            "buyer": (buyer_token, buyer.pk, buyer.user_id),
            "banned": (banned_token, banned.pk, banned.user_id),
            "staff": (staff_token, None, staff.pk),
        },
        "items": {blade.pk: blade.sku, old.pk: old.sku},
        "ids": {"blade": blade.pk, "old": old.pk, "listings": [x.pk for x in listings]},
    }


def mirror(dsn: str, world: dict[str, Any]) -> None:
    """The legacy rows as the projector stores them (same ids, same wall-clock times)."""
    from legacy_monolith.catalog.models import Item
    from legacy_monolith.market.models import Listing, Sale

    with psycopg.connect(dsn) as conn:
        for pk, (name, status) in world["players"].items():
            conn.execute("INSERT INTO players VALUES (%s, %s, %s)", (pk, name, status))
        for item in Item.objects.all():
            conn.execute("INSERT INTO items VALUES (%s, %s, %s)", (item.pk, item.sku, item.active == "Y"))
        for x in Listing.objects.all():
            conn.execute(
                "INSERT INTO listings VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    x.pk,
                    x.seller_id,
                    x.item_id,
                    x.quantity,
                    x.quantity_remaining,
                    x.unit_price_copper,
                    x.status,
                    x.created_at,
                    x.updated_at,
                ),
            )
        for s in Sale.objects.all():
            conn.execute(
                "INSERT INTO sales VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    s.pk,
                    s.listing_id,
                    s.buyer_id,
                    s.seller_id,
                    s.item_id,
                    s.quantity,
                    s.unit_price_copper,
                    s.total_copper,
                    s.fee_copper,
                    s.sold_at,
                ),
            )
        conn.execute("UPDATE projection_state SET lag_events = 0, heartbeat_at = now()")
        conn.execute(
            "INSERT INTO projection_state (consumer, lag_events, heartbeat_at) VALUES ('market', 0, now()) ON CONFLICT DO NOTHING"
        )


def writes_for(world: dict[str, Any]) -> list[tuple[str, str | None, Any]]:
    ids = world["ids"]
    listings = ids["listings"]
    return [
        ("/api/sales/", None, {"listing": listings[3], "quantity": 1}),
        ("/api/sales/", "staff", {"listing": listings[3], "quantity": 1}),
        ("/api/sales/", "buyer", {}),
        ("/api/sales/", "buyer", {"listing": 99999, "quantity": "1.5"}),
        ("/api/sales/", "buyer", {"listing": "x", "quantity": 0}),
        ("/api/sales/", "buyer", [1]),
        ("/api/sales/", "buyer", {"listing": listings[3], "quantity": 6}),
        ("/api/sales/", "buyer", {"listing": listings[0], "quantity": 1}),
        ("/api/sales/", "buyer", {"listing": listings[2], "quantity": 1}),
        ("/api/sales/", "seller", {"listing": listings[3], "quantity": 1}),
        ("/api/sales/", "banned", {"listing": listings[3], "quantity": 1}),
        ("/api/listings/", "buyer", {"item": ids["old"], "quantity": 1, "unit_price_copper": 5}),
        ("/api/listings/", "buyer", {"item": True, "quantity": 10**7, "unit_price_copper": None}),
        ("/api/listings/", "banned", {"item": ids["blade"], "quantity": 1, "unit_price_copper": 5}),
        (f"/api/listings/{listings[3]}/cancel/", "buyer", None),
        (f"/api/listings/{listings[0]}/cancel/", "seller", None),
        ("/api/listings/99999/cancel/", "seller", None),
    ]


def test_the_market_answers_as_the_monolith(postgres_server: Any, tmp_path: Path) -> None:
    world = legacy_world()
    monolith = APIClient()
    expected: list[tuple[int, bytes]] = [(r.status_code, r.content) for r in map(monolith.get, GETS)]
    invalid = APIClient()
    invalid.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    refused = invalid.get("/api/sales/")
    expected.append((refused.status_code, refused.content))
    for path, who, body in writes_for(world):
        client = APIClient()
        if who is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Token {world['tokens'][who][0]}")
        response = client.post(path, body, format="json") if body is not None else client.post(path)
        expected.append((response.status_code, response.content))

    dsn = str(postgres_server.create_database(f"market_parity_{uuid.uuid4().hex[:8]}"))
    upgrade(SCRIPT_LOCATION, database_url(dsn))
    control = str(postgres_server.create_database(f"control_parity_{uuid.uuid4().hex[:8]}"))
    with psycopg.connect(control, autocommit=True) as conn:
        conn.execute(WRITE_OWNERS_SCHEMA)
        conn.execute(
            "INSERT INTO strangler_write_owners (context, owner, since, route_version) VALUES ('market', 'market', %s, 1)",
            (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),),
        )
    mirror(dsn, world)
    keyring = ensure_key_file(tmp_path / "keys.json")
    settings = MarketSettings.from_env(
        {
            "STRANGLER_MARKET_DATABASE_URL": dsn,
            "STRANGLER_ADMIN_TOKEN": "admin",
            "STRANGLER_LEGACY_URL": "http://127.0.0.1:9",
            "STRANGLER_INTERNAL_TOKEN": "internal",
            "STRANGLER_IDENTITY_KEYS": str(tmp_path / "keys.json"),
            "STRANGLER_CONTROL_DATABASE_URL": control,
            "STRANGLER_MARKET_RELAY": "off",
        }
    )

    def identity(who: str) -> dict[str, str]:
        _, player_id, user_id = world["tokens"][who]
        name, status = world["players"].get(player_id, (who, None))
        claims = Identity(auth="token", user_id=user_id, username=name, player_id=player_id, player_status=status)
        return {"X-Strangler-Identity": sign(claims, keyring)}

    async def market_answers() -> list[tuple[int, bytes]]:
        market = bootstrap(settings)
        writes = MarketWrites(PgMarketStore(market.pool), FakeMonolith(), MarketClock.named("Europe/Paris"))
        market = dataclasses.replace(market, writes=writes)
        await market.pool.open()
        answers: list[tuple[int, bytes]] = []
        try:
            transport = httpx.ASGITransport(app=create_app(market))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                for path in GETS:
                    r = await client.get(path)
                    answers.append((r.status_code, r.content))
                r = await client.get(
                    "/api/sales/", headers={"X-Strangler-Identity": sign(Identity(auth="invalid"), keyring)}
                )
                answers.append((r.status_code, r.content))
                for path, who, body in writes_for(world):
                    headers = identity(who) if who is not None else {}
                    r = (
                        await client.post(path, json=body, headers=headers)
                        if body is not None
                        else await client.post(path, headers=headers)
                    )
                    answers.append((r.status_code, r.content))
        finally:
            await market.pool.close()
            await market.engine.dispose()
        return answers

    got = asyncio.run(market_answers())
    requests = [*GETS, "GET /api/sales/ (invalid token)", *(f"POST {p} as {w}: {b}" for p, w, b in writes_for(world))]
    mismatches = [(req, exp, g) for req, exp, g in zip(requests, expected, got, strict=True) if exp != g]
    assert mismatches == []
    assert {status for status, _ in expected} == {200, 400, 401, 403, 404, 409}
