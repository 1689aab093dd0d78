"""Run in a child process by test_market_processes.py: one buy with the
settings read from the environment, so ``STRANGLER_MARKET_CRASH_AFTER``
makes the process SIGKILL itself after that step is committed."""

from __future__ import annotations

import asyncio
import sys

from market_support import FakeMonolith
from psycopg_pool import AsyncConnectionPool

from new_services.market.adapters.store import PgMarketStore
from new_services.market.domain.clock import MarketClock
from new_services.market.domain.model import Player
from new_services.market.service_layer.writes import MarketWrites
from new_services.market.settings import MarketSettings


async def main() -> None:
    settings = MarketSettings.from_env()
    fake = FakeMonolith()
    fake.player(1, "seller")
    fake.player(2, "buyer", balance=1_000_000)
    async with AsyncConnectionPool(settings.service.libpq_dsn, min_size=1, max_size=2, open=False) as pool:
        writes = MarketWrites(
            PgMarketStore(pool), fake, MarketClock.named("Europe/Paris"), crash_after=settings.crash_after
        )
        await writes.buy(Player(2, "buyer", "A"), int(sys.argv[1]), int(sys.argv[2]))


if __name__ == "__main__":
    asyncio.run(main())
