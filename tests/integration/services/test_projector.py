"""The platform's projector over a real PostgreSQL with an in-memory event
source: every event has its effect exactly once across crashes, duplicates
and rebuilds, and unknown or broken events are counted, not fatal."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from services_support import T0, ListSource, cloudevent, item, sale
from sqlalchemy import Connection, Engine, text

from new_services.contracts.codec import DecodedEvent
from new_services.contracts.events import ListingCancelled
from new_services.platform import state
from new_services.platform.consumer import Projector
from new_services.platform.migrations import upgrade
from new_services.platform.settings import database_url
from new_services.pricing.bootstrap import SCRIPT_LOCATION
from new_services.pricing.domain.clock import MarketClock
from new_services.pricing.service_layer.projection import PricingProjection

CLOCK = MarketClock.named("Europe/Paris")


def engine_for(dsn: str) -> Engine:
    """A migrated pricing database's engine."""
    from sqlalchemy import create_engine

    url = database_url(dsn)
    upgrade(SCRIPT_LOCATION, url)
    return create_engine(url)


class CrashingProjection(PricingProjection):
    """Dies in the middle of its ``crash_on``-th batch (after writing part of it)."""

    def __init__(self, crash_on: int) -> None:
        super().__init__(CLOCK)
        self.batches, self.crash_on = 0, crash_on

    def apply(self, conn: Connection, events: Sequence[DecodedEvent]) -> int:
        self.batches += 1
        applied = super().apply(conn, events)
        if self.batches == self.crash_on:
            raise RuntimeError("killed mid-batch")
        return applied


def drain(projector: Projector, limit: int = 1000) -> None:
    projector.sync()
    for _ in range(limit):
        if projector.source.lag() == 0:
            return
        projector.run_once()
    raise AssertionError("source not drained")


def totals(engine: Engine) -> tuple[int, int, int, int]:
    with engine.connect() as conn:
        sales = conn.execute(text("SELECT count(*), coalesce(sum(quantity), 0) FROM sales")).one()
        daily = conn.execute(
            text("SELECT coalesce(sum(trades), 0), coalesce(sum(volume), 0) FROM candles WHERE interval = '1d'")
        ).one()
    return int(sales[0]), int(sales[1]), int(daily[0]), int(daily[1])


def status(engine: Engine) -> state.ProjectionStatus:
    with engine.connect() as conn:
        found = state.read_status(conn, "pricing")
    assert found is not None
    return found


def test_a_crash_mid_batch_loses_and_repeats_nothing(pricing_engine: Engine) -> None:
    values = [cloudevent(item(1))] + [cloudevent(sale(n, minutes=n, quantity=n % 4 + 1)) for n in range(1, 101)]
    crashing = Projector(CrashingProjection(crash_on=5), ListSource.of(values), pricing_engine)
    with pytest.raises(RuntimeError, match="killed"):
        drain(crashing)
    restarted = Projector(PricingProjection(CLOCK), ListSource.of(values), pricing_engine)
    drain(restarted)
    quantity = sum(n % 4 + 1 for n in range(1, 101))
    assert totals(pricing_engine) == (100, quantity, 100, quantity)
    assert status(pricing_engine).events_applied == 101
    with pricing_engine.connect() as conn:
        assert state.read_offsets(conn, "pricing") == {("smp.market.v1", 0): 101}


def test_a_sale_delivered_twice_with_new_ids_counts_once(pricing_engine: Engine) -> None:
    values = [cloudevent(sale(n, minutes=n)) for n in range(1, 11)]
    replayed = [cloudevent(sale(n, minutes=n)) for n in range(1, 11)]  # e.g. a new CDC snapshot
    drain(Projector(PricingProjection(CLOCK), ListSource.of(values + replayed), pricing_engine))
    assert totals(pricing_engine) == (10, 10, 10, 10)


def test_unknown_and_broken_events_are_counted_and_the_stream_goes_on(pricing_engine: Engine) -> None:
    newer = json.loads(cloudevent(sale(2)))
    newer["type"] = "smp.market.SaleRecorded.v2"
    broken = json.loads(cloudevent(sale(3)))
    broken["data"]["quantity"] = "three"
    not_pricings = cloudevent(ListingCancelled(listing_id=1, quantity_returned=2, closed_at=T0))
    values = [
        cloudevent(sale(1)),
        json.dumps(newer).encode(),
        json.dumps(broken).encode(),
        None,
        not_pricings,
        b"{not json",
        cloudevent(sale(4)),
    ]
    drain(Projector(PricingProjection(CLOCK), ListSource.of(values), pricing_engine))
    assert totals(pricing_engine)[0] == 2
    counted = status(pricing_engine)
    assert (counted.events_applied, counted.events_ignored, counted.events_skipped, counted.events_rejected) == (
        2,
        1,
        1,
        2,
    )


def test_a_rebuild_replays_from_the_start_to_the_same_read_model(pricing_engine: Engine) -> None:
    values = [cloudevent(item(1))] + [cloudevent(sale(n, minutes=n * 7, price=90 + n % 13)) for n in range(1, 60)]
    projector = Projector(PricingProjection(CLOCK), ListSource.of(values), pricing_engine, heartbeat_s=0)
    drain(projector)
    with pricing_engine.connect() as conn:
        before = conn.execute(text("SELECT * FROM candles ORDER BY item_id, interval, bucket")).all()
    with pricing_engine.begin() as conn:  # what POST /_service/rebuild does
        assert state.rebuild(conn, "pricing", PricingProjection(CLOCK).reset) == 1
    assert totals(pricing_engine) == (0, 0, 0, 0)
    projector.run_once()  # idle: sees the new generation, seeks back to the beginning
    assert projector.source.lag() == len(values)
    for _ in range(100):
        if projector.source.lag() == 0:
            break
        projector.run_once()
    with pricing_engine.connect() as conn:
        after = conn.execute(text("SELECT * FROM candles ORDER BY item_id, interval, bucket")).all()
    assert after == before and status(pricing_engine).generation == 1


def _read_model(engine: Engine) -> tuple[list[Any], list[Any]]:
    with engine.connect() as conn:
        return (
            conn.execute(
                text("SELECT sale_id, item_id, sold_at, quantity, unit_price, total FROM sales ORDER BY sale_id")
            ).all(),
            conn.execute(text("SELECT * FROM candles ORDER BY item_id, interval, bucket")).all(),
        )


def test_corrections_and_voids_leave_the_candles_a_fresh_build_would_have(
    pricing_dsn: str, postgres_server: Any
) -> None:
    from new_services.contracts.events import SaleCorrected, SaleVoided

    sales = [sale(n, item_id=1 + n % 2, minutes=n * 11, price=100 + n) for n in range(1, 30)]
    moved = sale(7, item_id=2, minutes=900, price=555, quantity=3)  # other item, other buckets, new price
    corrected = SaleCorrected(**{f.name: getattr(moved, f.name) for f in dataclasses.fields(moved)})
    changes = [cloudevent(s) for s in sales] + [cloudevent(corrected), cloudevent(SaleVoided(sale_id=12, listing_id=1))]
    changed = engine_for(pricing_dsn)
    drain(Projector(PricingProjection(CLOCK), ListSource.of(changes), changed))

    final = [moved if s.sale_id == 7 else s for s in sales if s.sale_id != 12]
    fresh = engine_for(str(postgres_server.create_database(f"pricing_fresh_{uuid.uuid4().hex[:8]}")))
    drain(Projector(PricingProjection(CLOCK), ListSource.of([cloudevent(s) for s in final]), fresh))
    assert _read_model(changed) == _read_model(fresh)
    changed.dispose()
    fresh.dispose()
