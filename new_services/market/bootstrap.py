"""market's composition root: the settings become the pools, the store, the
monolith client, the write side and the projection. Nothing connects at
import time; the app's lifespan opens what ``serve`` needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from new_services.market.adapters.monolith import HttpMonolith
from new_services.market.adapters.ownership import Ownership
from new_services.market.adapters.store import MarketReads, PgMarketStore
from new_services.market.domain.clock import MarketClock
from new_services.market.service_layer.handback import Handback
from new_services.market.service_layer.projection import MarketProjection
from new_services.market.service_layer.writes import MarketWrites
from new_services.market.settings import MarketSettings
from new_services.platform.http import ServiceFacts
from new_services.platform.identity import KeyFile

SCRIPT_LOCATION = Path(__file__).parent / "alembic"


@dataclass(frozen=True)
class Market:
    """What the HTTP app needs."""

    settings: MarketSettings
    engine: AsyncEngine  # the platform routes (readiness, rebuild)
    pool: AsyncConnectionPool[Any]  # reads and the write side's transactions
    reads: MarketReads
    writes: MarketWrites
    monolith: HttpMonolith
    ownership: Ownership
    #: hands the writes back after a flip to legacy; None without a control database or a broker
    handback: Handback | None
    keys: KeyFile
    facts: ServiceFacts


def projection(settings: MarketSettings) -> MarketProjection:
    return MarketProjection(MarketClock.named(settings.market_time_zone))


def _handback(settings: MarketSettings, ownership: Ownership, store: PgMarketStore) -> Handback | None:
    """The handback needs the owner row and the broker's end offsets."""
    bootstrap_servers = settings.service.bootstrap_servers
    if not settings.control_database_url or not bootstrap_servers:
        return None
    from new_services.market.adapters.relay import BrokerEndOffsets

    return Handback(ownership, store, BrokerEndOffsets(bootstrap_servers))


def bootstrap(settings: MarketSettings | None = None) -> Market:
    settings = settings or MarketSettings.from_env()
    service = settings.service
    legacy_url, internal_token, key_file = settings.require_write_side()
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        service.libpq_dsn, min_size=2, max_size=10, open=False, timeout=5.0
    )
    monolith = HttpMonolith(legacy_url, internal_token)
    read_model = projection(settings)
    store = PgMarketStore(pool)
    ownership = Ownership(settings.control_database_url, pool, catch_up_timeout_s=settings.catch_up_s)
    return Market(
        settings=settings,
        engine=create_async_engine(service.database_url, pool_size=2, max_overflow=2),
        pool=pool,
        reads=MarketReads(pool),
        writes=MarketWrites(store, monolith, read_model.clock, crash_after=settings.crash_after),
        monolith=monolith,
        ownership=ownership,
        handback=_handback(settings, ownership, store),
        keys=KeyFile(key_file),
        facts=ServiceFacts(
            service=service.service,
            consumer=read_model.consumer,
            script_location=SCRIPT_LOCATION,
            admin_token=service.require_admin_token(),
            ready_max_lag=service.ready_max_lag,
            reset_read_model=read_model.reset,
        ),
    )


def sync_engine(settings: MarketSettings) -> Engine:
    """The projector's engine (writes happen in batches, synchronously)."""
    return create_engine(settings.service.database_url, pool_size=2, max_overflow=0, pool_pre_ping=True)
