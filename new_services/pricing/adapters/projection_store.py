"""The write side of the projection: trades, candles and items, inside the
projector's transaction (a sync SQLAlchemy ``Connection``).

New trades are inserted with ``ON CONFLICT (sale_id) DO NOTHING RETURNING``
so only trades seen for the first time feed the candles: the sale id makes
``SaleRecorded`` idempotent, whatever re-delivered it. Candle increments of
a batch are merged in Python first (one row per key), then upserted with a
merge that keeps the earliest open and the latest close by (time, sale id).
A correction or a void recomputes the touched buckets from the trades.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, delete, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert

from new_services.pricing.adapters.tables import READ_MODEL_TABLES, candles, items, sales
from new_services.pricing.domain.model import Candle, Trade
from new_services.pricing.domain.windows import INTERVALS, bucket_floor

CandleKey = tuple[int, str, dt.datetime]  # (item, interval, bucket)


def upsert_item(conn: Connection, *, item_id: int, sku: str) -> None:
    stmt = insert(items).values(item_id=item_id, sku=sku)
    conn.execute(stmt.on_conflict_do_update(index_elements=[items.c.item_id], set_={"sku": stmt.excluded.sku}))


def remove_item(conn: Connection, *, item_id: int) -> None:
    conn.execute(delete(items).where(items.c.item_id == item_id))


def insert_new_trades(conn: Connection, trades: Sequence[tuple[Trade, str]]) -> list[Trade]:
    """Insert (trade, event id) pairs; return the trades that were new."""
    if not trades:
        return []
    rows = [
        {"sale_id": t.sale_id, "item_id": t.item_id, "sold_at": t.sold_at, "quantity": t.quantity,
         "unit_price": t.unit_price, "total": t.total, "event_id": event_id}
        for t, event_id in trades
    ]
    inserted = conn.execute(
        insert(sales).on_conflict_do_nothing(index_elements=[sales.c.sale_id]).returning(sales.c.sale_id), rows
    )
    new_ids = {row.sale_id for row in inserted}
    return [t for t, _ in trades if t.sale_id in new_ids]


def candle_increments(trades: Iterable[Trade]) -> dict[CandleKey, Candle]:
    """Every interval's candle of the trades, merged per bucket."""
    merged: dict[CandleKey, Candle] = {}
    for trade in trades:
        one = Candle.of_trade(trade)
        for interval in INTERVALS:
            key = (trade.item_id, interval, bucket_floor(trade.sold_at, interval))
            previous = merged.get(key)
            merged[key] = one if previous is None else previous.combine(one)
    return merged


_MERGE_CANDLE = text("""
    INSERT INTO candles AS c (item_id, interval, bucket, open, open_at, open_id, high, low,
                              close, close_at, close_id, volume, trades, value)
    VALUES (:item_id, :interval, :bucket, :open, :open_at, :open_id, :high, :low,
            :close, :close_at, :close_id, :volume, :trades, :value)
    ON CONFLICT (item_id, interval, bucket) DO UPDATE SET
        open     = CASE WHEN (EXCLUDED.open_at, EXCLUDED.open_id) < (c.open_at, c.open_id) THEN EXCLUDED.open ELSE c.open END,
        open_id  = CASE WHEN (EXCLUDED.open_at, EXCLUDED.open_id) < (c.open_at, c.open_id) THEN EXCLUDED.open_id ELSE c.open_id END,
        open_at  = LEAST(EXCLUDED.open_at, c.open_at),
        high     = GREATEST(EXCLUDED.high, c.high),
        low      = LEAST(EXCLUDED.low, c.low),
        close    = CASE WHEN (EXCLUDED.close_at, EXCLUDED.close_id) > (c.close_at, c.close_id) THEN EXCLUDED.close ELSE c.close END,
        close_id = CASE WHEN (EXCLUDED.close_at, EXCLUDED.close_id) > (c.close_at, c.close_id) THEN EXCLUDED.close_id ELSE c.close_id END,
        close_at = GREATEST(EXCLUDED.close_at, c.close_at),
        volume   = c.volume + EXCLUDED.volume,
        trades   = c.trades + EXCLUDED.trades,
        value    = c.value + EXCLUDED.value
""")


def merge_candles(conn: Connection, increments: dict[CandleKey, Candle]) -> None:
    if not increments:
        return
    conn.execute(_MERGE_CANDLE, [
        {"item_id": item_id, "interval": interval, "bucket": bucket,
         "open": c.open, "open_at": c.open_key[0], "open_id": c.open_key[1], "high": c.high, "low": c.low,
         "close": c.close, "close_at": c.close_key[0], "close_id": c.close_key[1],
         "volume": c.volume, "trades": c.trades, "value": c.value}
        for (item_id, interval, bucket), c in increments.items()
    ])


def stored_trade(conn: Connection, sale_id: int) -> Trade | None:
    row = conn.execute(select(sales).where(sales.c.sale_id == sale_id)).first()
    if row is None:
        return None
    return Trade(row.sale_id, row.item_id, row.sold_at, row.quantity, row.unit_price, row.total)


def replace_trade(conn: Connection, trade: Trade, event_id: str) -> None:
    stmt = insert(sales).values(sale_id=trade.sale_id, item_id=trade.item_id, sold_at=trade.sold_at,
                                quantity=trade.quantity, unit_price=trade.unit_price, total=trade.total,
                                event_id=event_id)
    conn.execute(stmt.on_conflict_do_update(index_elements=[sales.c.sale_id], set_={
        name: stmt.excluded[name] for name in ("item_id", "sold_at", "quantity", "unit_price", "total", "event_id")
    }))


def delete_trade(conn: Connection, sale_id: int) -> None:
    conn.execute(delete(sales).where(sales.c.sale_id == sale_id))


_REBUILD_BUCKET = text("""
    INSERT INTO candles (item_id, interval, bucket, open, open_at, open_id, high, low,
                         close, close_at, close_id, volume, trades, value)
    SELECT :item_id, :interval, :bucket,
           (array_agg(unit_price ORDER BY sold_at, sale_id))[1],
           min(sold_at),
           (array_agg(sale_id ORDER BY sold_at, sale_id))[1],
           max(unit_price), min(unit_price),
           (array_agg(unit_price ORDER BY sold_at DESC, sale_id DESC))[1],
           max(sold_at),
           (array_agg(sale_id ORDER BY sold_at DESC, sale_id DESC))[1],
           sum(quantity), count(*), sum(total)
      FROM sales
     WHERE item_id = :item_id AND sold_at >= :bucket AND sold_at < :bucket_end
    HAVING count(*) > 0
""")


def recompute_buckets(conn: Connection, *, item_id: int, moments: Iterable[dt.datetime]) -> None:
    """Rebuild, from the stored trades, every interval's bucket holding one of ``moments``."""
    keys = {(interval, bucket_floor(moment, interval)) for moment in moments for interval in INTERVALS}
    for interval, bucket in sorted(keys):
        conn.execute(delete(candles).where(
            tuple_(candles.c.item_id, candles.c.interval, candles.c.bucket) == (item_id, interval, bucket)))
        conn.execute(_REBUILD_BUCKET, {"item_id": item_id, "interval": interval, "bucket": bucket,
                                       "bucket_end": bucket + INTERVALS[interval]})


def truncate_read_model(conn: Connection) -> None:
    conn.execute(text(f"TRUNCATE {', '.join(READ_MODEL_TABLES)}"))


def trade_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(sales)).scalar_one())
