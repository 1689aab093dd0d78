"""The write sagas over fakes of their ports: every path ends in a state
that matches the monolith's books, and a process killed right after any
persisted step is finished by a resume."""

from __future__ import annotations

import asyncio
import datetime as dt

import orjson
import pytest
from market_fakes import FakeMonolith, FakeStore

from new_services.market.domain import saga as states
from new_services.market.domain.clock import MarketClock
from new_services.market.domain.model import Item, Listing, Player, Refusal
from new_services.market.service_layer.ports import MonolithUnavailable
from new_services.market.service_layer.writes import MarketWrites, Rejected

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
CLOCK = MarketClock.named("Europe/Paris").__class__(MarketClock.named("Europe/Paris").zone, lambda: T0)
SELLER, BUYER, ITEM = Player(1, "seller", "A"), Player(2, "buyer", "A"), 7


class Crashed(BaseException):
    """Stands for SIGKILL: nothing after the crash point runs."""


def crash() -> None:
    raise Crashed


def world(*, balance: int = 1_000_000, held: int = 10) -> tuple[FakeStore, FakeMonolith]:
    store, monolith = FakeStore(), FakeMonolith()
    store.tables.players = {1: SELLER, 2: BUYER}
    store.tables.items = {ITEM: Item(ITEM, "WPN-0007", True)}
    monolith.player(1, "seller")
    monolith.player(2, "buyer", balance=balance)
    monolith.inventory[(1, ITEM)] = held
    return store, monolith


def open_listing(store: FakeStore, *, listing_id: int = 5, quantity: int = 3, price: int = 1000) -> Listing:
    wall = CLOCK.wall_clock(T0)
    listing = Listing(listing_id, 1, ITEM, quantity, quantity, price, "O", wall, wall)
    store.tables.listings[listing_id] = listing
    store.tables.listing_seq = max(store.tables.listing_seq, listing_id)
    return listing


def writes(store: FakeStore, monolith: FakeMonolith, crash_after: str | None = None) -> MarketWrites:
    return MarketWrites(store, monolith, CLOCK, crash_after=crash_after, retry_delay_s=0, crash=crash)


def event_types(store: FakeStore) -> list[str]:
    return [orjson.loads(m.value)["type"].split(".")[2] for m in store.tables.outbox]


def test_a_buy_settles_records_the_sale_and_fills_the_listing() -> None:
    store, monolith = world()
    open_listing(store, quantity=2)
    sale = asyncio.run(writes(store, monolith).buy(BUYER, 5, 2))
    assert (sale.quantity, sale.total_copper, sale.fee_copper) == (2, 2000, 100)
    assert store.tables.listings[5].status == "F" and store.tables.listings[5].quantity_remaining == 0
    assert monolith.balances == {1: 1900, 2: 1_000_000 - 2000}
    assert event_types(store) == ["ListingAmended", "ListingFilled", "SaleRecorded"]
    assert all(orjson.loads(m.value)["source"] == "/strangler/market" for m in store.tables.outbox)
    assert [m.key for m in store.tables.outbox] == [b"listings/5", b"listings/5", f"sales/{sale.sale_id}".encode()]


def test_a_refused_settlement_releases_the_reservation_and_answers_as_the_monolith() -> None:
    store, monolith = world(balance=500)
    open_listing(store, quantity=1)
    with pytest.raises(Rejected) as refused:
        asyncio.run(writes(store, monolith).buy(BUYER, 5, 1))
    assert refused.value.status == 409 and refused.value.body["code"] == "insufficient_funds"
    assert refused.value.body["detail"] == "Not enough gold: 10s 0c needed, 5s 0c available."
    listing = store.tables.listings[5]
    assert (listing.status, listing.quantity_remaining) == ("O", 1)
    assert [s.state for s in store.tables.sagas.values()] == [states.COMPENSATED]
    assert store.tables.outbox == [] and store.tables.sales == {}


def test_an_unknown_settlement_outcome_is_reversed_then_released() -> None:
    store, monolith = world()
    open_listing(store)
    monolith.lose_answers["settle"] = 3  # applied, but every answer lost
    with pytest.raises(MonolithUnavailable):
        asyncio.run(writes(store, monolith).buy(BUYER, 5, 1))
    assert monolith.balances[2] == 1_000_000 and monolith.inventory.get((2, ITEM), 0) == 0
    assert store.tables.listings[5].quantity_remaining == 3
    assert [s.state for s in store.tables.sagas.values()] == [states.COMPENSATED]


@pytest.mark.parametrize(
    ("player", "seller_status", "quantity", "code"),
    [
        (Player(2, "buyer", "B"), "A", 1, "player_banned"),
        (BUYER, "B", 1, "player_banned"),
        (SELLER, "A", 1, "self_trade"),
        (BUYER, "A", 4, "quantity_exceeds_remaining"),
    ],
)
def test_rules_refuse_before_anything_moves(player: Player, seller_status: str, quantity: int, code: str) -> None:
    store, monolith = world()
    store.tables.players[player.player_id] = player
    store.tables.players[1] = Player(1, "seller", seller_status) if player.player_id != 1 else player
    open_listing(store)
    with pytest.raises(Refusal) as refused:
        asyncio.run(writes(store, monolith).buy(player, 5, quantity))
    assert refused.value.code == code
    assert monolith.calls == [] and store.tables.sagas == {} and store.tables.listings[5].quantity_remaining == 3


def test_two_buyers_racing_for_the_last_unit_one_wins_the_other_sees_it_filled() -> None:
    store, monolith = world()
    monolith.player(3, "other", balance=1_000_000)
    store.tables.players[3] = Player(3, "other", "A")
    open_listing(store, quantity=1)
    service = writes(store, monolith)

    async def race() -> None:
        monolith.settle_gate = asyncio.Event()
        first = asyncio.create_task(service.buy(BUYER, 5, 1))
        second = asyncio.create_task(service.buy(Player(3, "other", "A"), 5, 1))
        with pytest.raises(Refusal) as refused:
            await asyncio.wait_for(second, 5)
        assert refused.value.code == "listing_closed" and refused.value.detail == "Listing 5 is filled."
        assert not first.done()  # the winner is still settling: its reservation closed the listing
        monolith.settle_gate.set()
        assert (await first).buyer_id == BUYER.player_id

    asyncio.run(race())
    assert len(store.tables.sales) == 1 and len(monolith.applied) == 1


def test_listing_creation_takes_the_items_into_escrow_first() -> None:
    store, monolith = world(held=5)
    listing = asyncio.run(writes(store, monolith).create_listing(SELLER, ITEM, 4, 250))
    assert (listing.quantity, listing.quantity_remaining, listing.status) == (4, 4, "O")
    assert monolith.inventory[(1, ITEM)] == 1
    assert event_types(store) == ["ListingOpened"]


def test_listing_refused_by_the_escrow_answers_its_refusal_and_creates_nothing() -> None:
    store, monolith = world(held=1)
    with pytest.raises(Rejected) as refused:
        asyncio.run(writes(store, monolith).create_listing(SELLER, ITEM, 4, 250))
    assert refused.value.body["code"] == "insufficient_inventory"
    assert store.tables.listings == {} and store.tables.outbox == []


def test_an_inactive_item_is_refused_before_the_escrow() -> None:
    store, monolith = world()
    store.tables.items[ITEM] = Item(ITEM, "WPN-0007", False)
    with pytest.raises(Refusal) as refused:
        asyncio.run(writes(store, monolith).create_listing(SELLER, ITEM, 1, 250))
    assert refused.value.body() == {
        "detail": "Item WPN-0007 can no longer be listed.",
        "code": "item_inactive",
        "extra": {"item_id": ITEM},
    }
    assert monolith.calls == []


def test_cancel_returns_the_remainder_and_publishes_the_cancellation() -> None:
    store, monolith = world(held=0)
    open_listing(store, quantity=3)
    cancelled = asyncio.run(writes(store, monolith).cancel_listing(5, 1))
    assert cancelled.status == "C" and monolith.inventory[(1, ITEM)] == 3
    assert event_types(store) == ["ListingCancelled"]
    with pytest.raises(Refusal) as again:
        asyncio.run(writes(store, monolith).cancel_listing(5, 1))
    assert again.value.code == "listing_closed" and again.value.detail == "Listing 5 is cancelled."


@pytest.mark.parametrize("step", [states.RESERVED, states.SETTLED, states.DONE])
def test_a_buy_killed_after_any_step_is_finished_by_a_resume(step: str) -> None:
    store, monolith = world()
    open_listing(store, quantity=3)
    with pytest.raises(Crashed):
        asyncio.run(writes(store, monolith, crash_after=step).buy(BUYER, 5, 2))
    asyncio.run(writes(store, monolith).resume_all())
    assert [s.state for s in store.tables.sagas.values()] == [states.DONE]
    assert len(store.tables.sales) == 1 and len(monolith.applied) == 1
    assert monolith.balances[2] == 1_000_000 - 2000
    assert store.tables.listings[5].quantity_remaining == 1
    assert event_types(store) == ["ListingAmended", "SaleRecorded"]


@pytest.mark.parametrize("step", [states.COMPENSATING, states.COMPENSATED])
def test_a_compensation_killed_midway_is_finished_by_a_resume(step: str) -> None:
    store, monolith = world()
    open_listing(store, quantity=3)
    monolith.lose_answers["settle"] = 3
    with pytest.raises(Crashed):
        asyncio.run(writes(store, monolith, crash_after=step).buy(BUYER, 5, 2))
    asyncio.run(writes(store, monolith).resume_all())
    assert [s.state for s in store.tables.sagas.values()] == [states.COMPENSATED]
    assert store.tables.listings[5].quantity_remaining == 3 and monolith.balances[2] == 1_000_000
    assert store.tables.sales == {}


@pytest.mark.parametrize("step", [states.ESCROWING, states.DONE])
def test_a_listing_killed_after_any_step_is_finished_by_a_resume(step: str) -> None:
    store, monolith = world(held=5)
    with pytest.raises(Crashed):
        asyncio.run(writes(store, monolith, crash_after=step).create_listing(SELLER, ITEM, 4, 250))
    asyncio.run(writes(store, monolith).resume_all())
    assert len(store.tables.listings) == 1 and monolith.inventory[(1, ITEM)] == 1
    assert event_types(store) == ["ListingOpened"]


def test_a_cancel_killed_before_the_return_is_finished_by_a_resume() -> None:
    store, monolith = world(held=0)
    open_listing(store, quantity=3)
    with pytest.raises(Crashed):
        asyncio.run(writes(store, monolith, crash_after=states.CANCELLED).cancel_listing(5, 1))
    assert monolith.inventory[(1, ITEM)] == 0
    asyncio.run(writes(store, monolith).resume_all())
    assert monolith.inventory[(1, ITEM)] == 3
    assert [s.state for s in store.tables.sagas.values()] == [states.DONE]


def test_a_listing_whose_escrow_is_unreachable_is_completed_later_with_the_same_key() -> None:
    store, monolith = world(held=5)
    monolith.unavailable["escrow"] = 3
    with pytest.raises(MonolithUnavailable):
        asyncio.run(writes(store, monolith).create_listing(SELLER, ITEM, 4, 250))
    assert store.tables.listings == {}
    assert asyncio.run(writes(store, monolith).resume_all()) == 1
    assert len(store.tables.listings) == 1 and monolith.inventory[(1, ITEM)] == 1


def test_a_cancel_during_a_refused_buy_gives_the_reserved_units_back_to_the_seller() -> None:
    store, monolith = world(balance=10, held=0)
    open_listing(store, quantity=3)
    service = writes(store, monolith)

    async def scenario() -> None:
        monolith.settle_gate = asyncio.Event()
        buying = asyncio.create_task(service.buy(BUYER, 5, 2))
        await monolith.reached(1)
        cancelled = await service.cancel_listing(5, 1)  # returns the 1 unit not reserved
        assert (cancelled.status, cancelled.quantity_remaining) == ("C", 1)
        monolith.settle_gate.set()
        with pytest.raises(Rejected):
            await buying

    asyncio.run(scenario())
    assert monolith.inventory[(1, ITEM)] == 3  # 1 by the cancel, 2 by the compensation
    listing = store.tables.listings[5]
    assert (listing.status, listing.quantity_remaining) == ("C", 3)


def test_a_cancel_during_a_settled_buy_keeps_the_listing_cancelled_in_the_events() -> None:
    store, monolith = world(held=0)
    open_listing(store, quantity=3)
    service = writes(store, monolith)

    async def scenario() -> None:
        monolith.settle_gate = asyncio.Event()
        buying = asyncio.create_task(service.buy(BUYER, 5, 2))
        await monolith.reached(1)
        await service.cancel_listing(5, 1)
        monolith.settle_gate.set()
        await buying

    asyncio.run(scenario())
    amended = [orjson.loads(m.value)["data"] for m in store.tables.outbox if b"ListingAmended" in m.value]
    assert [(a["status"], a["quantity_remaining"]) for a in amended] == [("cancelled", 1)]
    assert event_types(store) == ["ListingCancelled", "ListingAmended", "SaleRecorded"]
    assert monolith.inventory[(1, ITEM)] == 1 and monolith.inventory[(2, ITEM)] == 2


def test_the_events_carry_the_listings_own_remaining_not_its_quantity_minus_its_sales() -> None:
    """A legacy listing's qty_rem is the monolith's figure: 10 of 20 left
    although its recorded sales sum to 3. A buy of 2 publishes 8."""
    store, monolith = world()
    listing = open_listing(store, quantity=20)
    store.tables.listings[5] = Listing(5, 1, ITEM, 20, 10, 1000, "O", listing.created_at, listing.updated_at)
    asyncio.run(writes(store, monolith).buy(BUYER, 5, 2))
    amended = [orjson.loads(m.value)["data"] for m in store.tables.outbox if b"ListingAmended" in m.value]
    assert [a["quantity_remaining"] for a in amended] == [8]


def test_units_another_buy_still_holds_count_as_remaining_in_the_events() -> None:
    """Two buys in flight on one listing of 5: the first to confirm says 4
    are left (the other's unit is reserved, not sold); the second says 3."""
    store, monolith = world()
    open_listing(store, quantity=5)
    service = writes(store, monolith)

    async def scenario() -> None:
        monolith.settle_gate = asyncio.Event()
        first = asyncio.create_task(service.buy(BUYER, 5, 1))
        await monolith.reached(1)
        second = asyncio.create_task(service.buy(BUYER, 5, 1))
        await monolith.reached(2)
        monolith.settle_gate.set()
        await first
        await second

    asyncio.run(scenario())
    amended = [orjson.loads(m.value)["data"] for m in store.tables.outbox if b"ListingAmended" in m.value]
    assert [a["quantity_remaining"] for a in amended] == [4, 3]
    assert store.tables.listings[5].quantity_remaining == 3
