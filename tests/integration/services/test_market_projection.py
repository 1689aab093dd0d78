"""The market's projector on a real PostgreSQL, from contract events encoded
as the ACL publishes them: the store it builds, idempotence, its own events
skipped, no regression of a newer local listing, sequences above every id."""

from __future__ import annotations

from market_support import ACL, T0, acl_event, item, listing, player, sale
from services_support import ListSource
from sqlalchemy import Engine, text

from new_services.contracts.events import (
    ItemDeactivated,
    ListingAmended,
    ListingCancelled,
    ListingFilled,
    PlayerBanned,
)
from new_services.contracts.values import ListingStatus, Money
from new_services.market.domain.clock import MarketClock
from new_services.market.service_layer.projection import SOURCE, MarketProjection, MarketProjector
from new_services.platform import state
from new_services.platform.consumer import Projector

CLOCK = MarketClock.named("Europe/Paris")


def project(engine: Engine, partitions: dict[tuple[str, int], list[bytes | None]]) -> Projector:
    projector = MarketProjector(MarketProjection(CLOCK), ListSource(partitions, batch=5), engine)
    projector.sync()
    for _ in range(100):
        if projector.source.lag() == 0:
            break
        projector.run_once()
    assert projector.source.lag() == 0
    return projector


def snapshot() -> dict[tuple[str, int], list[bytes | None]]:
    return {
        ("smp.players.v1", 0): [acl_event(player(1, "seller")), acl_event(player(2, "buyer"))],
        ("smp.catalog.v1", 0): [acl_event(item(7)), acl_event(item(8)), acl_event(ItemDeactivated(item_id=8))],
        ("smp.market.v1", 0): [
            acl_event(listing(40, quantity=3, remaining=3)),
            acl_event(sale(90, listing_id=40, quantity=2)),
            acl_event(
                ListingAmended(
                    listing_id=40,
                    status=ListingStatus.OPEN,
                    quantity_remaining=1,
                    unit_price=Money.from_copper(1000),
                    amended_at=T0,
                )
            ),
            acl_event(listing(41, remaining=0)),
            acl_event(ListingFilled(listing_id=41, closed_at=T0)),
        ],
    }


def rows(engine: Engine, sql: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_the_store_is_built_from_the_acl_events(market_engine: Engine) -> None:
    project(market_engine, snapshot())
    assert rows(market_engine, "SELECT player_id, name, status FROM players ORDER BY 1") == [
        (1, "seller", "A"),
        (2, "buyer", "A"),
    ]
    assert rows(market_engine, "SELECT item_id, sku, listable FROM items ORDER BY 1") == [
        (7, "ITM-00007", True),
        (8, "ITM-00008", False),
    ]
    assert rows(market_engine, "SELECT listing_id, quantity_remaining, status FROM listings ORDER BY 1") == [
        (40, 1, "O"),
        (41, 0, "F"),
    ]
    wall = CLOCK.wall_clock(T0)
    assert rows(market_engine, "SELECT listing_id, created_at FROM listings WHERE listing_id = 40") == [(40, wall)]
    assert rows(market_engine, "SELECT sale_id, quantity, total, fee FROM sales") == [(90, 2, 2000, 100)]


def test_a_second_snapshot_is_absorbed_and_ids_stay_above_the_legacy_ones(market_engine: Engine) -> None:
    project(market_engine, snapshot())
    project(market_engine, snapshot())  # a new CDC snapshot: same rows, new event ids, a fresh source
    assert rows(market_engine, "SELECT count(*) FROM sales") == [(1,)]
    assert rows(market_engine, "SELECT count(*) FROM listings") == [(2,)]
    assert rows(market_engine, "SELECT nextval('listings_id_seq'), nextval('sales_id_seq')") == [(42, 91)]


def test_the_markets_own_events_are_skipped_and_counted_as_ignored(market_engine: Engine) -> None:
    own = acl_event(listing(77), source=SOURCE)
    projector = project(market_engine, {("smp.market.v1", 0): [own, acl_event(listing(78))]})
    assert rows(market_engine, "SELECT listing_id FROM listings") == [(78,)]
    with market_engine.connect() as conn:
        status = state.read_status(conn, "market")
    assert status is not None and status.events_ignored == 1 and status.events_applied == 1
    assert projector.source.lag() == 0


def test_a_legacy_listing_event_never_regresses_a_newer_local_state(market_engine: Engine) -> None:
    project(market_engine, {("smp.market.v1", 0): [acl_event(listing(40, quantity=5, remaining=5))]})
    with market_engine.begin() as conn:  # the market sold 3 and then the seller cancelled, locally
        conn.execute(
            text("UPDATE listings SET quantity_remaining = 2, status = 'C', updated_at = now() WHERE listing_id = 40")
        )
    late = [
        acl_event(listing(40, quantity=5, remaining=5)),
        acl_event(
            ListingAmended(
                listing_id=40,
                status=ListingStatus.OPEN,
                quantity_remaining=4,
                unit_price=Money.from_copper(1),
                amended_at=T0,
            )
        ),
        acl_event(ListingFilled(listing_id=40, closed_at=T0)),
    ]
    project(market_engine, {("smp.market.v1", 1): late})
    assert rows(market_engine, "SELECT quantity_remaining, status, unit_price FROM listings") == [(2, "C", 1000)]


def test_a_cancelled_legacy_listing_and_a_banned_player(market_engine: Engine) -> None:
    events = {
        ("smp.players.v1", 0): [
            acl_event(player(1, "seller")),
            acl_event(PlayerBanned(player_id=1, previous_status=None)),
        ],
        ("smp.market.v1", 0): [
            acl_event(listing(40)),
            acl_event(ListingCancelled(listing_id=40, quantity_returned=3, closed_at=T0)),
        ],
    }
    project(market_engine, events)
    assert rows(market_engine, "SELECT status FROM players") == [("B",)]
    assert rows(market_engine, "SELECT status, quantity_remaining FROM listings") == [("C", 3)]
    assert ACL != SOURCE
