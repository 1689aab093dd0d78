"""The market's write side on a real PostgreSQL (its store, row locks and
outbox) with a fake of the monolith's internal API: sales, listings and
cancellations, the race for the last unit, a resume from every persisted
state, and the outbox relayed in order, at least once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import orjson
import psycopg
import pytest
from market_support import FakeMonolith, acl_event, item, listing, player
from psycopg_pool import AsyncConnectionPool
from services_support import ListSource
from sqlalchemy import Engine, text

from new_services.market.adapters.relay import OutboxRelay
from new_services.market.adapters.store import PgMarketStore
from new_services.market.domain import saga as states
from new_services.market.domain.clock import MarketClock
from new_services.market.domain.model import Player, Refusal
from new_services.market.service_layer.projection import MarketProjection, MarketProjector
from new_services.market.service_layer.writes import MarketWrites, Rejected

CLOCK = MarketClock.named("Europe/Paris")
SELLER, BUYER, OTHER = Player(1, "seller", "A"), Player(2, "buyer", "A"), Player(3, "other", "A")
T = TypeVar("T")


class Crashed(BaseException):
    """Stands for SIGKILL: nothing after the crash point runs."""


def crash() -> None:
    raise Crashed


def seed(engine: Engine) -> None:
    """Players 1-3, item 7, listing 40 (3 left at 1000 cp), through the projector."""
    events = {
        ("smp.players.v1", 0): [
            acl_event(player(1, "seller")),
            acl_event(player(2, "buyer")),
            acl_event(player(3, "other")),
        ],
        ("smp.catalog.v1", 0): [acl_event(item(7))],
        ("smp.market.v1", 0): [acl_event(listing(40, quantity=3, remaining=3))],
    }
    projector = MarketProjector(MarketProjection(CLOCK), ListSource(events), engine)
    projector.sync()
    while projector.source.lag():
        projector.run_once()


def monolith() -> FakeMonolith:
    fake = FakeMonolith()
    fake.player(1, "seller")
    fake.player(2, "buyer", balance=1_000_000)
    fake.player(3, "other", balance=1_000_000)
    fake.inventory[(1, 7)] = 10
    return fake


@asynccontextmanager
async def store_on(dsn: str) -> AsyncIterator[PgMarketStore]:
    async with AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False) as pool:
        yield PgMarketStore(pool)


def run(dsn: str, body: Callable[[PgMarketStore], Awaitable[T]]) -> T:
    async def main() -> T:
        async with store_on(dsn) as store:
            return await body(store)

    return asyncio.run(main())


def writes(store: PgMarketStore, fake: FakeMonolith, crash_after: str | None = None) -> MarketWrites:
    return MarketWrites(store, fake, CLOCK, crash_after=crash_after, retry_delay_s=0, crash=crash)


def rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def outbox_types(engine: Engine) -> list[tuple[str, str, str]]:
    found = rows(engine, "SELECT key, value FROM outbox ORDER BY id")
    return [(bytes(k).decode(), orjson.loads(v)["type"], orjson.loads(v)["source"]) for k, v in found]


def test_a_buy_records_the_sale_above_the_legacy_ids_and_writes_its_events(
    market_dsn: str, market_engine: Engine
) -> None:
    seed(market_engine)
    with market_engine.begin() as conn:
        conn.execute(text("SELECT setval('sales_id_seq', 500)"))
    fake = monolith()
    sale = run(market_dsn, lambda store: writes(store, fake).buy(BUYER, 40, 3))
    assert (sale.sale_id, sale.total_copper, sale.fee_copper) == (501, 3000, 150)
    assert rows(market_engine, "SELECT quantity_remaining, status FROM listings") == [(0, "F")]
    assert outbox_types(market_engine) == [
        ("listings/40", "smp.market.ListingAmended.v1", "/strangler/market"),
        ("listings/40", "smp.market.ListingFilled.v1", "/strangler/market"),
        ("sales/501", "smp.market.SaleRecorded.v1", "/strangler/market"),
    ]
    assert rows(market_engine, "SELECT state FROM sagas") == [("done",)]


def test_a_refused_settlement_leaves_the_listing_as_it_was(market_dsn: str, market_engine: Engine) -> None:
    seed(market_engine)
    fake = monolith()
    fake.balances[2] = 10
    with pytest.raises(Rejected) as refused:
        run(market_dsn, lambda store: writes(store, fake).buy(BUYER, 40, 1))
    assert refused.value.status == 409 and refused.value.body["code"] == "insufficient_funds"
    assert rows(market_engine, "SELECT quantity_remaining, status FROM listings") == [(3, "O")]
    assert rows(market_engine, "SELECT state FROM sagas") == [("compensated",)]
    assert rows(market_engine, "SELECT count(*) FROM outbox") == [(0,)]


def test_two_buyers_race_for_the_last_unit_on_the_row_lock(market_dsn: str, market_engine: Engine) -> None:
    seed(market_engine)
    with market_engine.begin() as conn:
        conn.execute(text("UPDATE listings SET quantity_remaining = 1"))
    fake = monolith()

    async def race(store: PgMarketStore) -> None:
        fake.settle_gate = asyncio.Event()
        service = writes(store, fake)
        results = await asyncio.gather(service.buy(BUYER, 40, 1), service.buy(OTHER, 40, 1), return_exceptions=True)
        refusals = [r for r in results if isinstance(r, Refusal)]
        assert len(refusals) == 1 and refusals[0].code == "listing_closed", results
        assert sum(1 for r in results if not isinstance(r, BaseException)) == 1

    async def open_gate_when_one_waits(store: PgMarketStore) -> None:
        racing = asyncio.create_task(race(store))
        await fake.reached(1)  # the winner reached the settlement: the loser is refused on the locked row
        assert fake.settle_gate is not None
        fake.settle_gate.set()
        await racing

    run(market_dsn, open_gate_when_one_waits)
    assert rows(market_engine, "SELECT count(*) FROM sales") == [(1,)]
    assert len(fake.applied) == 1 and rows(market_engine, "SELECT status FROM listings") == [("F",)]


@pytest.mark.parametrize("step", [states.RESERVED, states.SETTLED, states.DONE])
def test_a_buy_resumes_from_every_persisted_state(market_dsn: str, market_engine: Engine, step: str) -> None:
    seed(market_engine)
    fake = monolith()
    with pytest.raises(Crashed):
        run(market_dsn, lambda store: writes(store, fake, crash_after=step).buy(BUYER, 40, 2))
    assert rows(market_engine, "SELECT state FROM sagas") == [(step,)]
    run(market_dsn, lambda store: writes(store, fake).resume_all())
    assert rows(market_engine, "SELECT state FROM sagas") == [("done",)]
    assert rows(market_engine, "SELECT quantity FROM sales") == [(2,)]
    assert rows(market_engine, "SELECT quantity_remaining FROM listings") == [(1,)]
    assert len(fake.applied) == 1 and fake.balances[2] == 1_000_000 - 2000


@pytest.mark.parametrize("step", [states.COMPENSATING, states.COMPENSATED])
def test_a_compensation_resumes_from_every_persisted_state(market_dsn: str, market_engine: Engine, step: str) -> None:
    seed(market_engine)
    fake = monolith()
    fake.lose_answers["settle"] = 3  # applied by the monolith, the answers lost: reversed
    with pytest.raises(Crashed):
        run(market_dsn, lambda store: writes(store, fake, crash_after=step).buy(BUYER, 40, 2))
    run(market_dsn, lambda store: writes(store, fake).resume_all())
    assert rows(market_engine, "SELECT state FROM sagas") == [("compensated",)]
    assert rows(market_engine, "SELECT quantity_remaining, status FROM listings") == [(3, "O")]
    assert fake.balances[2] == 1_000_000 and rows(market_engine, "SELECT count(*) FROM sales") == [(0,)]


@pytest.mark.parametrize("step", [states.ESCROWING, states.DONE])
def test_a_listing_resumes_from_every_persisted_state(market_dsn: str, market_engine: Engine, step: str) -> None:
    seed(market_engine)
    fake = monolith()
    with pytest.raises(Crashed):
        run(market_dsn, lambda store: writes(store, fake, crash_after=step).create_listing(SELLER, 7, 4, 250))
    run(market_dsn, lambda store: writes(store, fake).resume_all())
    assert rows(market_engine, "SELECT listing_id, quantity_remaining, status FROM listings WHERE listing_id > 40") == [
        (41, 4, "O")
    ]
    assert fake.inventory[(1, 7)] == 6
    assert [t for _, t, _ in outbox_types(market_engine)] == ["smp.market.ListingOpened.v1"]


def test_a_cancel_resumes_after_the_cancellation_was_committed(market_dsn: str, market_engine: Engine) -> None:
    seed(market_engine)
    fake = monolith()
    with pytest.raises(Crashed):
        run(market_dsn, lambda store: writes(store, fake, crash_after=states.CANCELLED).cancel_listing(40, 1))
    assert rows(market_engine, "SELECT status FROM listings") == [("C",)] and fake.inventory[(1, 7)] == 10
    run(market_dsn, lambda store: writes(store, fake).resume_all())
    assert fake.inventory[(1, 7)] == 13 and rows(market_engine, "SELECT state FROM sagas") == [("done",)]
    assert [t for _, t, _ in outbox_types(market_engine)] == ["smp.market.ListingCancelled.v1"]


class RecordingPublisher:
    def __init__(self, fail_times: int = 0) -> None:
        self.published: list[tuple[str, bytes, bytes]] = []
        self.fail_times = fail_times

    def publish(self, messages: Sequence[tuple[str, bytes, bytes]]) -> None:
        if self.fail_times:
            self.fail_times -= 1
            self.published.extend(messages[:1])  # part reached the broker, then it failed
            raise RuntimeError("broker gone")
        self.published.extend(messages)


def test_the_outbox_is_relayed_in_order_and_at_least_once(market_dsn: str, market_engine: Engine) -> None:
    seed(market_engine)
    fake = monolith()

    async def trade(store: PgMarketStore) -> None:
        service = writes(store, fake)
        await service.buy(BUYER, 40, 1)
        await service.create_listing(SELLER, 7, 2, 300)
        await service.buy(OTHER, 40, 2)

    run(market_dsn, trade)
    expected = [bytes(v) for (v,) in rows(market_engine, "SELECT value FROM outbox ORDER BY id")]
    assert len(expected) == 6  # amended + sale, opened, amended + filled + sale
    publisher = RecordingPublisher(fail_times=1)
    relay = OutboxRelay(market_dsn, publisher, batch=4)
    with psycopg.connect(market_dsn) as conn:
        with pytest.raises(RuntimeError):
            relay.relay_once(conn)
        assert rows(market_engine, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == [(6,)]
        assert relay.relay_once(conn) == 4 and relay.relay_once(conn) == 2 and relay.relay_once(conn) == 0
    assert [v for _, _, v in publisher.published] == expected[:1] + expected  # the first one twice: at least once
    assert rows(market_engine, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == [(0,)]


def test_one_relay_at_a_time(market_dsn: str, market_engine: Engine) -> None:
    seed(market_engine)
    run(market_dsn, lambda store: writes(store, monolith()).buy(BUYER, 40, 1))
    with psycopg.connect(market_dsn) as holder, psycopg.connect(market_dsn) as conn:
        holder.execute("SELECT pg_advisory_lock(%s)", (0x6D6B742D6F757462,))
        assert OutboxRelay(market_dsn, RecordingPublisher()).relay_once(conn) == 0
        holder.execute("SELECT pg_advisory_unlock(%s)", (0x6D6B742D6F757462,))
        assert OutboxRelay(market_dsn, RecordingPublisher()).relay_once(conn) == 2
