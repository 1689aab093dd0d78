"""The market's HTTP app over a real PostgreSQL (store and control database),
with a fake of the monolith's internal API: the monolith's answers for the
same inputs, the identity header as the only trusted credential, and writes
refused while the market does not own them."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from market_support import FakeMonolith
from sqlalchemy import Engine, text
from test_market_writes import monolith, seed

from new_services.market.adapters.store import PgMarketStore
from new_services.market.bootstrap import Market, bootstrap
from new_services.market.domain.clock import MarketClock
from new_services.market.entrypoints.http import create_app
from new_services.market.service_layer.handback import Handback
from new_services.market.service_layer.writes import MarketWrites
from new_services.market.settings import MarketSettings
from new_services.platform.identity import Identity, Keyring, ensure_key_file, sign
from strangler_proxy.store import WRITE_OWNERS_SCHEMA

HOST = "testserver"


@pytest.fixture
def control_dsn(postgres_server: Any) -> str:
    dsn = str(postgres_server.create_database(f"control_{uuid.uuid4().hex[:10]}"))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(WRITE_OWNERS_SCHEMA)
    return dsn


def set_owner(control_dsn: str, owner: str, since: dt.datetime) -> None:
    with psycopg.connect(control_dsn, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO strangler_write_owners (context, owner, since, route_version) VALUES ('market', %s, %s, 1)
               ON CONFLICT (context) DO UPDATE SET owner = EXCLUDED.owner, since = EXCLUDED.since""",
            (owner, since),
        )


@dataclasses.dataclass
class World:
    settings: MarketSettings
    fake: FakeMonolith
    keyring: Keyring
    engine: Engine

    def market(self) -> Market:
        """The app's composition root, with the fake monolith behind the write side."""
        market = bootstrap(self.settings)
        writes = MarketWrites(PgMarketStore(market.pool), self.fake, MarketClock.named("Europe/Paris"), retry_delay_s=0)
        return dataclasses.replace(market, writes=writes)

    def header(self, **claims: Any) -> dict[str, str]:
        identity = Identity(**{"auth": "token", **claims})
        return {"X-Strangler-Identity": sign(identity, self.keyring)}

    def call(self, body: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]) -> httpx.Response:
        async def main() -> httpx.Response:
            market = self.market()
            await market.pool.open()
            try:
                transport = httpx.ASGITransport(app=create_app(market))
                async with httpx.AsyncClient(transport=transport, base_url=f"http://{HOST}") as client:
                    return await body(client)
            finally:
                await market.pool.close()
                await market.engine.dispose()

        return asyncio.run(main())


@pytest.fixture
def world(market_dsn: str, market_engine: Engine, control_dsn: str, tmp_path: Path) -> World:
    seed(market_engine)
    keys = tmp_path / "identity-keys.json"
    keyring = ensure_key_file(keys)
    settings = MarketSettings.from_env(
        {
            "STRANGLER_MARKET_DATABASE_URL": market_dsn,
            "STRANGLER_ADMIN_TOKEN": "admin",
            "STRANGLER_LEGACY_URL": "http://127.0.0.1:9",
            "STRANGLER_INTERNAL_TOKEN": "internal",
            "STRANGLER_IDENTITY_KEYS": str(keys),
            "STRANGLER_CONTROL_DATABASE_URL": control_dsn,
            "STRANGLER_MARKET_RELAY": "off",
            "STRANGLER_MARKET_CATCH_UP_S": "0.5",
        }
    )
    return World(settings, monolith(), keyring, market_engine)


BUYER = {"user_id": 12, "username": "buyer", "player_id": 2, "player_status": "A"}


def test_reads_are_the_monolith_pages(world: World) -> None:
    response = world.call(lambda c: c.get("/api/listings/?limit=1&offset=0&status=O"))
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["count"] == 1 and body["previous"] is None and body["next"] is None
    assert body["results"][0]["id"] == 40 and body["results"][0]["status_label"] == "Open"
    assert response.content.startswith(b'{"count":1,"next":null,"previous":null,"results":[{"id":40,"item_id":7,')
    bad = world.call(lambda c: c.get("/api/sales/?item=x&listing=0"))
    assert bad.status_code == 400 and bad.json() == {
        "item": ["A valid integer is required."],
        "listing": ["Ensure this value is greater than or equal to 1."],
    }


def test_an_invalid_token_is_refused_even_on_reads(world: World) -> None:
    response = world.call(lambda c: c.get("/api/sales/", headers=world.header(auth="invalid")))
    assert response.status_code == 401 and response.content == b'{"detail":"Invalid token."}'
    assert response.headers["www-authenticate"] == "Token"


def test_a_forged_header_is_refused_and_logged(world: World, caplog: pytest.LogCaptureFixture) -> None:
    forged = sign(Identity(auth="token", player_id=2), Keyring("k1", {"k1": b"not the key"}))
    with caplog.at_level(logging.WARNING):
        response = world.call(lambda c: c.post("/api/sales/", headers={"X-Strangler-Identity": forged}, json={}))
    assert response.status_code == 401 and response.json() == {"detail": "Invalid token."}
    assert "signature does not match" in caplog.text


def test_writes_need_an_identity_and_a_player(world: World) -> None:
    anonymous = world.call(lambda c: c.post("/api/sales/", json={"listing": 40, "quantity": 1}))
    assert anonymous.status_code == 401
    assert anonymous.content == b'{"detail":"Authentication credentials were not provided."}'
    staff = world.call(lambda c: c.post("/api/sales/", headers=world.header(user_id=1), json={}))
    assert staff.status_code == 403 and staff.json() == {
        "detail": "This user has no player account and cannot trade.",
        "code": "no_player_account",
        "extra": {},
    }


def test_writes_are_refused_while_the_monolith_owns_them(world: World, control_dsn: str) -> None:
    response = world.call(
        lambda c: c.post("/api/sales/", headers=world.header(**BUYER), json={"listing": 40, "quantity": 1})
    )
    assert response.status_code == 409 and response.json()["code"] == "writes_moved"
    assert response.json()["extra"] == {"context": "market", "owner": "legacy", "since": None}
    assert world.fake.calls == []


def test_the_first_write_after_the_flip_waits_for_the_projector(world: World, control_dsn: str) -> None:
    set_owner(control_dsn, "market", dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))  # no heartbeat after it yet
    response = world.call(
        lambda c: c.post("/api/sales/", headers=world.header(**BUYER), json={"listing": 40, "quantity": 1})
    )
    assert response.status_code == 503 and world.fake.calls == []


def test_a_buy_through_the_api_once_the_market_owns_the_writes(world: World, control_dsn: str) -> None:
    set_owner(control_dsn, "market", dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    with world.engine.begin() as conn:  # the projector's last heartbeat: caught up, after the flip
        conn.execute(text("UPDATE projection_state SET lag_events = 0, heartbeat_at = now()"))

    async def session(c: httpx.AsyncClient) -> httpx.Response:
        headers = world.header(**BUYER)
        missing = await c.post("/api/sales/", headers=headers, json={"listing": 999, "quantity": 1})
        assert missing.status_code == 400 and missing.json() == {
            "listing": ['Invalid pk "999" - object does not exist.']
        }
        plain = await c.post("/api/sales/", headers={**headers, "content-type": "text/plain"}, content=b"x")
        assert plain.status_code == 415 and plain.json() == {
            "detail": 'Unsupported media type "text/plain" in request.'
        }
        too_many = await c.post("/api/sales/", headers=headers, json={"listing": 40, "quantity": 4})
        assert too_many.status_code == 409 and too_many.json() == {
            "detail": "Only 3 left on listing 40, 4 requested.",
            "code": "quantity_exceeds_remaining",
            "extra": {"remaining": 3, "requested": 4},
        }
        return await c.post("/api/sales/", headers=headers, json={"listing": 40, "quantity": 2})

    response = world.call(session)
    assert response.status_code == 201, response.text
    body = response.json()
    assert {k: body[k] for k in ("listing_id", "buyer_id", "seller_id", "quantity")} == {
        "listing_id": 40,
        "buyer_id": 2,
        "seller_id": 1,
        "quantity": 2,
    }
    assert body["total"] == {"copper": 2000, "display": "20s 0c"} and body["fee"] == {"copper": 100, "display": "1s 0c"}
    assert world.fake.balances[2] == 1_000_000 - 2000
    # As in the monolith (one transaction), the listing was last updated when the sale was recorded,
    # which is also what its ListingAmended event tells sync-back to write into the legacy row.
    listing = world.call(lambda c: c.get("/api/listings/?seller=1&limit=100")).json()["results"]
    assert next(row["updated_at"] for row in listing if row["id"] == 40) == body["sold_at"]


def test_cancel_answers_as_the_monolith(world: World, control_dsn: str) -> None:
    set_owner(control_dsn, "market", dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    with world.engine.begin() as conn:
        conn.execute(text("UPDATE projection_state SET lag_events = 0, heartbeat_at = now()"))

    async def session(c: httpx.AsyncClient) -> httpx.Response:
        html = await c.post("/api/listings/abc/cancel/")
        assert html.status_code == 404 and html.headers["content-type"].startswith("text/html")
        not_mine = await c.post("/api/listings/40/cancel/", headers=world.header(**BUYER))
        assert not_mine.status_code == 403 and not_mine.json()["code"] == "not_listing_owner"
        unknown = await c.post("/api/listings/4000/cancel/", headers=world.header(**BUYER))
        assert unknown.status_code == 404 and unknown.json() == {
            "detail": "Listing 4000 not found.",
            "code": "not_found",
            "extra": {},
        }
        seller = world.header(user_id=11, username="seller", player_id=1, player_status="A")
        return await c.post("/api/listings/40/cancel/", headers=seller)

    response = world.call(session)
    assert (
        response.status_code == 200
        and response.json()["status"] == "C"
        and response.json()["status_label"] == "Cancelled"
    )
    assert world.fake.inventory[(1, 7)] == 13


def test_the_openapi_document_lists_the_five_operations(world: World) -> None:
    response = world.call(lambda c: c.get("/openapi.json"))
    operations = {op["operationId"] for path in response.json()["paths"].values() for op in path.values()}
    assert operations == {"listings_list", "listings_create", "listings_cancel", "sales_list", "sales_create"}


def test_other_methods_get_drfs_answers(world: World) -> None:
    async def session(c: httpx.AsyncClient) -> httpx.Response:
        anonymous = await c.delete("/api/sales/")
        assert anonymous.status_code == 401
        get_cancel = await c.get("/api/listings/40/cancel/")
        assert get_cancel.status_code == 405 and get_cancel.json() == {"detail": 'Method "GET" not allowed.'}
        assert get_cancel.headers["allow"] == "POST, OPTIONS"
        head = await c.head("/api/listings/")
        assert head.status_code == 200 and head.content == b""
        return await c.put("/api/listings/", headers=world.header(**BUYER))

    response = world.call(session)
    assert response.status_code == 405 and response.content == b'{"detail":"Method \\"PUT\\" not allowed."}'


# -- handing the writes back (docs/market-write-side.md) ----------------------


def hand_back(control_dsn: str) -> None:
    """The owner row as the route store leaves it after a flip back."""
    with psycopg.connect(control_dsn, autocommit=True) as conn:
        conn.execute(
            """UPDATE strangler_write_owners SET owner = 'legacy', since = now(), handover_from = 'market',
                      route_version = route_version + 1 WHERE context = 'market'"""
        )


def declared(control_dsn: str) -> Any:
    with psycopg.connect(control_dsn) as conn:
        row = conn.execute("SELECT handover_offsets FROM strangler_write_owners WHERE context = 'market'").fetchone()
    return row[0] if row else None


def test_the_market_declares_its_last_event_only_once_its_writes_settled(world: World, control_dsn: str) -> None:
    """After a flip back: not while a write is in flight, a saga is
    unfinished or the outbox holds a row; then the broker's end offsets
    (here a stand-in callable; the e2e flip back reads a real broker)."""
    set_owner(control_dsn, "market", dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    with world.engine.begin() as conn:
        conn.execute(text("UPDATE projection_state SET lag_events = 0, heartbeat_at = now()"))
    bought = world.call(
        lambda c: c.post("/api/sales/", headers=world.header(**BUYER), json={"listing": 40, "quantity": 1})
    )
    assert bought.status_code == 201
    hand_back(control_dsn)
    ends = {"smp.market.v1": {"0": 42, "1": 7}}

    async def checks() -> list[bool]:
        market = world.market()
        await market.pool.open()
        try:
            handback = Handback(market.ownership, PgMarketStore(market.pool), lambda topics: ends)
            results = [await handback.declare_if_due()]  # the sale's outbox rows are not on the broker (relay off)
            with world.engine.begin() as conn:
                conn.execute(text("UPDATE outbox SET published_at = now()"))
            async with market.ownership.writing():  # a write in flight
                results.append(await handback.declare_if_due())
            with world.engine.begin() as conn:
                conn.execute(text("UPDATE sagas SET state = 'reserved' WHERE kind = 'buy'"))
            results.append(await handback.declare_if_due())  # an unfinished saga
            with world.engine.begin() as conn:
                conn.execute(text("UPDATE sagas SET state = 'done' WHERE kind = 'buy'"))
            results += [await handback.declare_if_due(), await handback.declare_if_due()]
            return results
        finally:
            await market.pool.close()
            await market.engine.dispose()

    assert asyncio.run(checks()) == [False, False, False, True, False]  # declared once
    assert declared(control_dsn) == ends
    refused = world.call(
        lambda c: c.post("/api/sales/", headers=world.header(**BUYER), json={"listing": 40, "quantity": 1})
    )
    assert refused.status_code == 409 and refused.json()["extra"]["owner"] == "legacy"
