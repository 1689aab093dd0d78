"""Trades, candles and the exchange rate, in integer copper.

The numbers are the monolith's, to the copper: the 24 h average is volume
weighted with floor division (sum of totals // sum of quantities), trades
are ordered by (time, sale id), and the 24 h change compares the last price
with the *reference price* (the last trade at or before the window start,
or, when the item had none, the first trade inside the window).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

TradeKey = tuple[dt.datetime, int]  # (wall-clock time, sale id): the order of trades


@dataclass(frozen=True)
class Trade:
    """One sale as pricing sees it (wall-clock time, integer copper)."""

    sale_id: int
    item_id: int
    sold_at: dt.datetime
    quantity: int
    unit_price: int
    total: int

    @property
    def key(self) -> TradeKey:
        return (self.sold_at, self.sale_id)


@dataclass(frozen=True)
class Candle:
    """OHLC of some trades, with the keys of the first and last so candles
    of neighbouring or interleaved spans combine exactly."""

    open: int
    open_key: TradeKey
    high: int
    low: int
    close: int
    close_key: TradeKey
    volume: int  # quantity traded
    trades: int
    value: int  # copper traded

    @classmethod
    def of_trade(cls, trade: Trade) -> Candle:
        price, key = trade.unit_price, trade.key
        return cls(price, key, price, price, price, key, trade.quantity, 1, trade.total)

    def combine(self, other: Candle) -> Candle:
        first = self if self.open_key <= other.open_key else other
        last = self if self.close_key >= other.close_key else other
        return Candle(
            open=first.open,
            open_key=first.open_key,
            high=max(self.high, other.high),
            low=min(self.low, other.low),
            close=last.close,
            close_key=last.close_key,
            volume=self.volume + other.volume,
            trades=self.trades + other.trades,
            value=self.value + other.value,
        )


def combine_all(candles: Iterable[Candle]) -> Candle | None:
    """All the candles as one (``None`` for no trades)."""
    merged: Candle | None = None
    for candle in candles:
        merged = candle if merged is None else merged.combine(candle)
    return merged


@dataclass(frozen=True)
class ItemRate:
    """An item's exchange rate at ``as_of`` (wall clock), in integer copper."""

    item_id: int
    sku: str
    as_of: dt.datetime
    last_price: int | None
    last_sold_at: dt.datetime | None
    average_price: int | None
    volume_quantity: int
    volume_trades: int
    volume_value: int
    reference_price: int | None

    @property
    def change(self) -> int | None:
        if self.last_price is None or self.reference_price is None:
            return None
        return self.last_price - self.reference_price

    @property
    def change_percent(self) -> float | None:
        change = self.change
        if change is None or not self.reference_price:
            return None
        return round(change * 100 / self.reference_price, 2)


def item_rate(
    *,
    item_id: int,
    sku: str,
    as_of: dt.datetime,
    window: Candle | None,
    last: Trade | None,
    before_window: Trade | None,
) -> ItemRate:
    """The rate from its parts: the trades of the 24 h window as one candle,
    the last trade at or before ``as_of`` and the last one at or before the
    window start."""
    reference = before_window.unit_price if before_window else (window.open if window else None)
    return ItemRate(
        item_id=item_id,
        sku=sku,
        as_of=as_of,
        last_price=last.unit_price if last else None,
        last_sold_at=last.sold_at if last else None,
        average_price=window.value // window.volume if window and window.volume else None,
        volume_quantity=window.volume if window else 0,
        volume_trades=window.trades if window else 0,
        volume_value=window.value if window else 0,
        reference_price=reference,
    )
