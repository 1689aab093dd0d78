"""pricing's in-process read cache over a real PostgreSQL: answers served
from memory are the answers a fresh query gives, at every instant a trade
leaves or enters a window, and a change the projector commits reaches the
cache through the change feed (LISTEN/NOTIFY), a rebuild included."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool
from services_support import T0, ListSource, cloudevent, item, sale
from sqlalchemy import Engine

from new_services.platform import state
from new_services.platform.consumer import Projector
from new_services.pricing.adapters import change_feed
from new_services.pricing.domain.clock import MarketClock
from new_services.pricing.service_layer.projection import PricingProjection
from new_services.pricing.service_layer.read_cache import ReadCache
from new_services.pricing.service_layer.reads import PricingReads, history_facts, rate_facts

CLOCK = MarketClock.named("Europe/Paris")
WALL_T0 = CLOCK.wall_clock(T0)
MICROSECOND = dt.timedelta(microseconds=1)
R = TypeVar("R")


class FakeClock:
    def __init__(self, moment: dt.datetime) -> None:
        self.moment = moment

    def __call__(self) -> dt.datetime:
        return self.moment


def project(engine: Engine, values: list[bytes]) -> None:
    """Project the whole stream (the stored offsets skip what was done)."""
    projector = Projector(PricingProjection(CLOCK), ListSource.of(values), engine)
    projector.sync()
    for _ in range(len(values) + 1):
        if projector.source.lag() == 0:
            return
        projector.run_once()
    raise AssertionError("stream not drained")


async def eventually(check: Callable[[], Awaitable[R]], within_s: float = 10.0) -> R:
    """``check()``'s first truthy value, polled until ``within_s`` passes."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {within_s}s: {check}")
        await asyncio.sleep(0.02)


async def following(cache: ReadCache, dsn: str) -> asyncio.Task[None]:
    task = asyncio.create_task(change_feed.follow(dsn, cache))

    async def listening() -> bool:
        return cache.following

    await eventually(listening)
    return task


@contextlib.asynccontextmanager
async def cached_reads(dsn: str, clock: FakeClock) -> AsyncIterator[PricingReads]:
    """Pricing's reads over a pool, with their cache following the change feed."""
    cache = ReadCache()
    async with AsyncConnectionPool(dsn, min_size=1, kwargs={"autocommit": True}) as pool:
        feed = await following(cache, dsn)
        try:
            yield PricingReads(pool, clock, cache)
        finally:
            feed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feed


def test_answers_from_memory_are_fresh_answers_as_trades_leave_and_enter_the_window(
    pricing_engine: Engine, pricing_dsn: str
) -> None:
    # Three trades, then one stamped 200 minutes ahead (a clock ahead of the market's).
    project(
        pricing_engine,
        [cloudevent(item(1))]
        + [cloudevent(sale(n, minutes=10 * n, price=100 + n)) for n in (1, 2, 3)]
        + [cloudevent(sale(4, minutes=200, price=90))],
    )
    oldest, ahead = WALL_T0 + dt.timedelta(minutes=10), WALL_T0 + dt.timedelta(minutes=200)
    instants = [
        WALL_T0 + dt.timedelta(minutes=40),
        ahead - MICROSECOND,
        ahead,
        ahead + dt.timedelta(hours=2),
        oldest + dt.timedelta(hours=24) - MICROSECOND,
        oldest + dt.timedelta(hours=24),
        oldest + dt.timedelta(hours=24, minutes=5),
    ]

    async def scenario() -> list[bool]:
        clock = FakeClock(instants[0])
        served_from_memory = []
        async with (
            cached_reads(pricing_dsn, clock) as reads,
            await psycopg.AsyncConnection.connect(pricing_dsn, autocommit=True) as fresh,
        ):
            for moment in instants:
                clock.moment = moment
                hits = reads.cache.hits
                rate = await reads.rate(1)
                history = await reads.history(1, interval="1h", days=1)
                served_from_memory.append(reads.cache.hits == hits + 2)
                expected_rate = (await rate_facts(fresh, item_id=1, as_of=moment)).value
                assert expected_rate is not None and rate == expected_rate.at(moment), moment
                expected = await history_facts(fresh, item_id=1, interval="1h", days=1, until=moment)
                assert history.value == expected.value, moment
        return served_from_memory

    # Each instant where a trade crossed the window's edge was read again from
    # the database; the others came from memory.
    assert asyncio.run(scenario()) == [False, True, False, True, True, False, True]


def test_a_committed_change_reaches_cached_answers_through_the_feed(pricing_engine: Engine, pricing_dsn: str) -> None:
    stream = [cloudevent(item(1)), cloudevent(item(2)), cloudevent(sale(1, minutes=1))]
    project(pricing_engine, stream)

    async def scenario() -> None:
        async with cached_reads(pricing_dsn, FakeClock(WALL_T0 + dt.timedelta(minutes=30))) as reads:
            before = await reads.rate(1)
            assert before is not None and before.volume_trades == 1
            assert await reads.rate(2) is not None and len(reads.cache) == 2
            await asyncio.to_thread(project, pricing_engine, [*stream, cloudevent(sale(2, minutes=2))])

            async def item_1_moved() -> bool:
                rate = await reads.rate(1)
                return rate is not None and rate.volume_trades == 2

            await eventually(item_1_moved)
            assert len(reads.cache) == 2  # item 2's entry was not dropped: the sale was item 1's

            def rebuild() -> None:
                with pricing_engine.begin() as conn:
                    state.rebuild(conn, "pricing", PricingProjection(CLOCK).reset)

            await asyncio.to_thread(rebuild)

            async def all_forgotten() -> bool:
                return await reads.rate(1) is None and await reads.rate(2) is None

            await eventually(all_forgotten)

    asyncio.run(scenario())


def test_without_the_feed_nothing_is_kept_and_it_comes_back(pricing_engine: Engine, pricing_dsn: str) -> None:
    project(pricing_engine, [cloudevent(item(1)), cloudevent(sale(1, minutes=1))])

    async def scenario() -> None:
        async with cached_reads(pricing_dsn, FakeClock(WALL_T0 + dt.timedelta(minutes=30))) as reads:
            cache = reads.cache
            await reads.rate(1)
            assert len(cache) == 1
            async with await psycopg.AsyncConnection.connect(pricing_dsn, autocommit=True) as admin:
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE 'LISTEN%%' AND pid <> pg_backend_pid()"
                )

            async def lost() -> bool:
                return not cache.following

            await eventually(lost)
            assert len(cache) == 0
            await reads.rate(1)
            assert len(cache) == 0  # nothing kept while announcements could be missed

            async def back() -> bool:
                return cache.following

            await eventually(back)
            await reads.rate(1)
            assert len(cache) == 1

    asyncio.run(scenario())
