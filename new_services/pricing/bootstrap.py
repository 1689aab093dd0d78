"""pricing's composition root: one place builds the engine, the clock and the
projection from the settings; the HTTP app and the projector ask for it.
Nothing connects at import time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from new_services.platform.http import ServiceFacts
from new_services.pricing.domain.clock import MarketClock
from new_services.pricing.service_layer.projection import PricingProjection
from new_services.pricing.service_layer.read_cache import ReadCache
from new_services.pricing.service_layer.reads import PricingReads
from new_services.pricing.settings import PricingSettings

SCRIPT_LOCATION = Path(__file__).parent / "alembic"


@dataclass(frozen=True)
class Pricing:
    """What the HTTP app needs."""

    settings: PricingSettings
    engine: AsyncEngine  # the platform routes (readiness, rebuild)
    read_pool: AsyncConnectionPool  # the two endpoints' reads (opened by the app's lifespan)
    reads: PricingReads  # over the pool, with the cache the change feed keeps current
    clock: MarketClock
    facts: ServiceFacts


def projection(settings: PricingSettings) -> PricingProjection:
    return PricingProjection(MarketClock.named(settings.market_time_zone))


def bootstrap(settings: PricingSettings | None = None) -> Pricing:
    settings = settings or PricingSettings.from_env()
    service = settings.service
    read_model = projection(settings)
    # Each answer is one SELECT: autocommit spares the BEGIN and ROLLBACK
    # round trips a transaction would add per request.
    read_pool = AsyncConnectionPool(
        service.libpq_dsn, min_size=2, max_size=10, open=False, timeout=5.0, kwargs={"autocommit": True}
    )
    return Pricing(
        settings=settings,
        engine=create_async_engine(service.database_url, pool_size=2, max_overflow=4),
        read_pool=read_pool,
        reads=PricingReads(read_pool, read_model.clock.now, ReadCache()),
        clock=read_model.clock,
        facts=ServiceFacts(
            service=service.service,
            consumer=read_model.consumer,
            script_location=SCRIPT_LOCATION,
            admin_token=service.require_admin_token(),
            ready_max_lag=service.ready_max_lag,
            reset_read_model=read_model.reset,
        ),
    )


def sync_engine(settings: PricingSettings) -> Engine:
    """The projector's engine (writes happen in batches, synchronously)."""
    return create_engine(settings.service.database_url, pool_size=2, max_overflow=0, pool_pre_ping=True)
