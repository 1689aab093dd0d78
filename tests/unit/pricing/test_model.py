"""Candles combine exactly, in any order; the rate follows the monolith's
rules (volume-weighted floor average, reference price fallback)."""

from __future__ import annotations

import datetime as dt
import random

from new_services.pricing.domain.clock import MarketClock
from new_services.pricing.domain.model import Candle, Trade, combine_all, item_rate

T0 = dt.datetime(2026, 11, 30, 12, 0)


def trade(sale_id: int, minutes: float, price: int, quantity: int = 1) -> Trade:
    return Trade(sale_id, 7, T0 + dt.timedelta(minutes=minutes), quantity, price, price * quantity)


def test_candles_of_shuffled_trades_combine_to_the_same_candle() -> None:
    trades = [trade(i, i % 5, 100 + (i * 37) % 50, 1 + i % 3) for i in range(1, 40)]
    reference = combine_all(Candle.of_trade(t) for t in sorted(trades, key=lambda t: t.key))
    shuffled = trades[:]
    random.Random(4).shuffle(shuffled)
    halves = [
        combine_all(Candle.of_trade(t) for t in shuffled[:17]),
        combine_all(Candle.of_trade(t) for t in shuffled[17:]),
    ]
    assert combine_all(c for c in halves if c) == reference
    first, last = min(trades, key=lambda t: t.key), max(trades, key=lambda t: t.key)
    assert reference.open == first.unit_price and reference.close == last.unit_price
    assert reference.volume == sum(t.quantity for t in trades) and reference.trades == len(trades)


def test_same_time_trades_are_ordered_by_sale_id() -> None:
    early, late = trade(5, 0, 100), trade(9, 0, 300)
    candle = Candle.of_trade(late).combine(Candle.of_trade(early))
    assert (candle.open, candle.close) == (100, 300)


def test_rate_average_is_floored_and_reference_falls_back_to_the_first_window_trade() -> None:
    window = combine_all([Candle.of_trade(trade(1, 0, 100, 2)), Candle.of_trade(trade(2, 10, 101, 1))])
    rate = item_rate(item_id=7, sku="X", as_of=T0, window=window, last=trade(2, 10, 101), before_window=None)
    assert rate.average_price == (200 + 101) // 3
    assert rate.reference_price == 100 and rate.change == 1 and rate.change_percent == 1.0
    quiet = item_rate(
        item_id=7, sku="X", as_of=T0, window=None, last=trade(2, -3000, 90), before_window=trade(2, -3000, 90)
    )
    assert quiet.average_price is None and quiet.volume_trades == 0 and quiet.change == 0


def test_the_market_clock_reads_utc_as_paris_wall_clock_across_dst() -> None:
    clock = MarketClock.named("Europe/Paris")
    utc = dt.UTC
    assert clock.wall_clock(dt.datetime(2026, 10, 25, 0, 30, tzinfo=utc)) == dt.datetime(2026, 10, 25, 2, 30)
    assert clock.wall_clock(dt.datetime(2026, 10, 25, 1, 30, tzinfo=utc)) == dt.datetime(2026, 10, 25, 2, 30)
    assert clock.wall_clock(dt.datetime(2026, 12, 1, 12, 0, tzinfo=utc)) == dt.datetime(2026, 12, 1, 13, 0)
