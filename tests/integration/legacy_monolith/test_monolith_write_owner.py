"""One writer at a time: the market's write endpoints and admin follow
``strangler_write_owners`` in the control database, read fresh per request
(docs/market-write-side.md)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient
from strangler_support import ControlDatabase

from acl.syncback.store import SCHEMA as SYNCBACK_SCHEMA
from legacy_monolith.catalog.models import Item
from legacy_monolith.market.models import Listing, Sale
from legacy_monolith.market.ownership import write_owner_get, writes_owned_by_legacy
from legacy_monolith.market.services import sale_record
from legacy_monolith.players.models import InventorySlot, Player
from legacy_monolith.smp.exceptions import WritesMoved
from local_stack.net import free_port
from local_stack.processes import wait_until

pytestmark = pytest.mark.django_db

SINCE = "2026-12-01T10:00:00+00:00"
MOVED_BODY = {
    "detail": f"Writes to market are owned by the market service since {SINCE}.",
    "code": "writes_moved",
    "extra": {"context": "market", "owner": "market", "since": SINCE},
}


def market_state() -> tuple[Any, ...]:
    """Everything a market write could change, by SQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT (SELECT count(*) FROM smp_lst), (SELECT count(*) FROM smp_sale),
                      (SELECT coalesce(sum(qty_rem), 0) FROM smp_lst WHERE sts = 'O'),
                      (SELECT sum(bal_cp) FROM smp_wlt), (SELECT coalesce(sum(qty), 0) FROM smp_inv)"""
        )
        return cursor.fetchone()


@pytest.fixture
def trade(
    make_player: Callable[..., Player], make_item: Callable[..., Item], make_listing: Callable[..., Listing]
) -> dict[str, Any]:
    seller, buyer = make_player(balance=0), make_player(balance=100_000)
    item = make_item()
    InventorySlot.objects.create(player=seller, item=item, quantity=4)
    return {"seller": seller, "buyer": buyer, "item": item, "listing": make_listing(seller, quantity=3, price=1_000)}


def write_all(as_player: Callable[[Player], APIClient], trade: dict[str, Any]) -> list[Any]:
    """The three market writes, each valid while the monolith owns them."""
    listing = trade["listing"]
    return [
        as_player(trade["seller"]).post(
            "/api/listings/", {"item": trade["item"].pk, "quantity": 2, "unit_price_copper": 500}, format="json"
        ),
        as_player(trade["buyer"]).post("/api/sales/", {"listing": listing.pk, "quantity": 1}, format="json"),
        as_player(trade["seller"]).post(f"/api/listings/{listing.pk}/cancel/"),
    ]


def test_without_a_control_database_the_monolith_writes(
    settings: Any, as_player: Callable[[Player], APIClient], trade: dict[str, Any]
) -> None:
    settings.STRANGLER_CONTROL_DATABASE_URL = ""
    assert [r.status_code for r in write_all(as_player, trade)] == [201, 201, 200]


@pytest.mark.parametrize("setup", ["no table", "no row", "legacy row"])
def test_the_monolith_writes_while_it_owns_market(
    setup: str, control_db: ControlDatabase, as_player: Callable[[Player], APIClient], trade: dict[str, Any]
) -> None:
    if setup == "no table":
        control_db.drop_table()
    elif setup == "legacy row":
        control_db.set_owner("legacy")
    before = market_state()
    assert [r.status_code for r in write_all(as_player, trade)] == [201, 201, 200]
    assert market_state() != before


def test_every_write_endpoint_answers_409_writes_moved_and_changes_nothing(
    control_db: ControlDatabase, as_player: Callable[[Player], APIClient], trade: dict[str, Any]
) -> None:
    control_db.set_owner("market", since=SINCE)
    before = market_state()
    responses = write_all(as_player, trade)
    assert [r.status_code for r in responses] == [409, 409, 409]
    assert [r.json() for r in responses] == [MOVED_BODY] * 3
    assert market_state() == before


def test_reads_stay_open_while_writes_moved(control_db: ControlDatabase, api: APIClient, trade: dict[str, Any]) -> None:
    control_db.set_owner("market")
    assert api.get("/api/listings/").status_code == 200
    assert api.get("/api/sales/").status_code == 200
    assert api.get(f"/api/items/{trade['item'].pk}/rate/").status_code == 200


def test_the_owner_is_read_fresh_on_every_write(
    control_db: ControlDatabase, as_player: Callable[[Player], APIClient], trade: dict[str, Any]
) -> None:
    """A flip takes effect on the very next request, both ways."""
    client = as_player(trade["buyer"])
    body = {"listing": trade["listing"].pk, "quantity": 1}
    assert client.post("/api/sales/", body, format="json").status_code == 201
    control_db.set_owner("market")
    assert client.post("/api/sales/", body, format="json").status_code == 409
    control_db.set_owner("legacy")
    assert client.post("/api/sales/", body, format="json").status_code == 201
    control_db.set_owner("market", since="2026-12-02T08:30:00+01:00")
    moved = client.post("/api/sales/", body, format="json")
    assert moved.status_code == 409
    assert moved.json()["extra"]["since"] == "2026-12-02T07:30:00+00:00"  # in UTC


def test_an_unreachable_control_database_refuses_writes(
    settings: Any, as_player: Callable[[Player], APIClient], trade: dict[str, Any]
) -> None:
    """Configured but down: guessing "legacy" could make two writers."""
    settings.STRANGLER_CONTROL_DATABASE_URL = f"postgresql://postgres@127.0.0.1:{free_port()}/control"
    before = market_state()
    response = as_player(trade["buyer"]).post(
        "/api/sales/", {"listing": trade["listing"].pk, "quantity": 1}, format="json"
    )
    assert response.status_code == 503
    assert response.json()["code"] == "write_owner_unknown"
    assert market_state() == before


def test_a_flip_cannot_pass_a_legacy_write_in_flight(control_db: ControlDatabase) -> None:
    """The guard holds the owner row's share lock for the whole write: a flip
    fails to lock it meanwhile (NOWAIT), succeeds once the write is over, and
    the next write is refused."""
    control_db.set_owner("legacy")
    with writes_owned_by_legacy(context="market"), pytest.raises(psycopg.errors.LockNotAvailable):
        control_db.flip("market", nowait=True)
    control_db.flip("market", nowait=True)
    with pytest.raises(WritesMoved), writes_owned_by_legacy(context="market"):
        pytest.fail("the write ran while market owns the writes")


def test_a_flip_waits_until_the_legacy_write_commits(
    control_db: ControlDatabase, make_player: Callable[..., Player], make_listing: Callable[..., Listing]
) -> None:
    """A blocking flip started during a legacy write completes only after
    it; the write itself goes through as legacy."""
    control_db.set_owner("legacy")
    seller, buyer = make_player(balance=0), make_player(balance=10_000)
    listing = make_listing(seller, quantity=2, price=1_000)
    flipper = threading.Thread(target=control_db.flip, args=("market",))
    with writes_owned_by_legacy(context="market"):
        flipper.start()
        wait_until(lambda: control_db.lock_waiters() >= 1, timeout=10, what="the flip waiting for the write")
        sale_record(buyer=buyer, listing_id=listing.pk, quantity=1)
        assert flipper.is_alive()  # still waiting: the write is not over
    flipper.join(timeout=10)
    assert not flipper.is_alive()
    assert write_owner_get(context="market").owner == "market"
    assert Sale.objects.filter(listing=listing).count() == 1


# -- handing the writes back -------------------------------------------------

TOPIC = "smp.market.v1"


def syncback_reached(offsets: dict[int, int]) -> None:
    """Sync-back's stored offsets in the legacy database (in the test's
    transaction, which the guard's reads share)."""
    with connection.cursor() as cursor:
        cursor.execute(SYNCBACK_SCHEMA)
        for partition, offset in offsets.items():
            cursor.execute(
                "INSERT INTO strangler_syncback_offsets (topic, partition, next_offset) VALUES (%s, %s, %s)"
                " ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
                (TOPIC, partition, offset),
            )


def buy_once(as_player: Callable[[Player], APIClient], trade: dict[str, Any]) -> Any:
    body = {"listing": trade["listing"].pk, "quantity": 1}
    return as_player(trade["buyer"]).post("/api/sales/", body, format="json")


@pytest.fixture
def handing_back(settings: Any, control_db: ControlDatabase) -> ControlDatabase:
    """The market handing the writes back; a short wait keeps refusals quick."""
    settings.STRANGLER_HANDOVER_WAIT_S = 0.2
    control_db.set_owner("market")
    control_db.hand_back()
    return control_db


def test_writes_wait_for_the_market_to_declare_its_last_event(
    handing_back: ControlDatabase, as_player: Callable[[Player], APIClient], trade: dict[str, Any]
) -> None:
    before = market_state()
    refused = buy_once(as_player, trade)
    assert refused.status_code == 409
    body = refused.json()
    assert (body["code"], body["extra"]["owner"]) == ("writes_moved", "market")
    assert "being handed back from the market service to legacy" in body["detail"]
    assert market_state() == before


def test_writes_wait_for_syncback_to_reach_the_declared_end(
    handing_back: ControlDatabase, as_player: Callable[[Player], APIClient], trade: dict[str, Any]
) -> None:
    """Declared at offsets 5 and 2: refused while sync-back has read less of
    either partition, taken once it has read both."""
    handing_back.declare({TOPIC: {"0": 5, "1": 2}})
    syncback_reached({0: 5})
    assert buy_once(as_player, trade).status_code == 409  # partition 1 not read at all
    syncback_reached({0: 5, 1: 1})
    assert buy_once(as_player, trade).status_code == 409
    syncback_reached({0: 5, 1: 2})
    assert buy_once(as_player, trade).status_code == 201


def test_a_write_arriving_during_the_handback_waits_for_it_then_goes_through(
    handing_back: ControlDatabase,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    as_player: Callable[[Player], APIClient],
    trade: dict[str, Any],
) -> None:
    """The handback completes while the write polls: the client sees 201,
    not a refusal (a flip back under traffic stays invisible)."""
    from legacy_monolith.market import ownership

    settings.STRANGLER_HANDOVER_WAIT_S = 10
    syncback_reached({0: 3})
    polls: list[float] = []

    def poll(seconds: float) -> None:  # the guard's wait between reads: the market declares meanwhile
        polls.append(seconds)
        if len(polls) == 2:
            handing_back.declare({TOPIC: {"0": 3}})

    monkeypatch.setattr(ownership.time, "sleep", poll)
    assert buy_once(as_player, trade).status_code == 201
    assert len(polls) == 2


def test_the_admin_stays_read_only_until_the_handback_completes(
    handing_back: ControlDatabase, admin_client: Client
) -> None:
    page = admin_client.get("/admin/market/listing/").content.decode()
    assert "/admin/market/listing/add/" not in page
    assert "being handed back from the market service" in page
    handing_back.declare({TOPIC: {"0": 0}})
    assert "/admin/market/listing/add/" in admin_client.get("/admin/market/listing/").content.decode()


# -- admin -------------------------------------------------------------------


def test_admin_is_read_only_with_a_notice_while_moved(
    control_db: ControlDatabase, admin_client: Client, trade: dict[str, Any]
) -> None:
    control_db.set_owner("market", since=SINCE)
    listing = trade["listing"]
    notice = f"Writes to market are owned by the market service since {SINCE}."
    for url in ["/admin/market/listing/", "/admin/market/sale/", f"/admin/market/listing/{listing.pk}/change/"]:
        page = admin_client.get(url)
        assert page.status_code == 200, url
        assert notice in page.content.decode(), url
    changelist = admin_client.get("/admin/market/listing/").content.decode()
    assert "/admin/market/listing/add/" not in changelist
    change_form = admin_client.get(f"/admin/market/listing/{listing.pk}/change/").content.decode()
    assert 'name="_save"' not in change_form
    assert admin_client.get("/admin/market/listing/add/").status_code == 403
    edit = admin_client.post(
        f"/admin/market/listing/{listing.pk}/change/",
        {"seller": listing.seller_id, "item": listing.item_id, "quantity": 3, "quantity_remaining": 0},
    )
    assert edit.status_code == 403
    assert admin_client.post(f"/admin/market/listing/{listing.pk}/delete/", {"post": "yes"}).status_code == 403
    listing.refresh_from_db()
    assert (listing.quantity_remaining, listing.status) == (3, "O")


def test_admin_is_writable_without_a_notice_while_legacy_owns(
    control_db: ControlDatabase, admin_client: Client, trade: dict[str, Any]
) -> None:
    control_db.set_owner("legacy")
    listing = trade["listing"]
    changelist = admin_client.get("/admin/market/listing/").content.decode()
    assert "owned by" not in changelist
    assert "/admin/market/listing/add/" in changelist
    change_form = admin_client.get(f"/admin/market/listing/{listing.pk}/change/").content.decode()
    assert 'name="_save"' in change_form and "owned by" not in change_form


def test_admin_is_read_only_when_the_owner_cannot_be_read(
    settings: Any, admin_client: Client, trade: dict[str, Any]
) -> None:
    settings.STRANGLER_CONTROL_DATABASE_URL = f"postgresql://postgres@127.0.0.1:{free_port()}/control"
    page = admin_client.get("/admin/market/listing/")
    assert page.status_code == 200
    assert "owner of market writes cannot be read" in page.content.decode()
    assert "/admin/market/listing/add/" not in page.content.decode()
    assert admin_client.get("/admin/market/listing/add/").status_code == 403
