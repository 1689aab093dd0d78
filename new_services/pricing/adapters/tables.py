"""pricing's tables (its own database; the platform's offsets and state
tables live beside them, see ``new_services.platform.state``).

- ``items``: the catalogue facts an answer needs (the sku), from ``smp.catalog.v1``.
- ``sales``: every trade on the market's wall clock; the sale id is the
  idempotency key of ``SaleRecorded`` (a re-delivered or re-snapshotted sale
  is absorbed), the event id is kept for tracing.
- ``candles``: one OHLC row per (item, interval, bucket) for every history
  interval, with the keys of its first and last trade so increments merge
  exactly (see ``domain.model.Candle``).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table, Uuid

metadata = MetaData()

items = Table(
    "items",
    metadata,
    Column("item_id", BigInteger, primary_key=True, autoincrement=False),
    Column("sku", String(64), nullable=False),
)

sales = Table(
    "sales",
    metadata,
    Column("sale_id", BigInteger, primary_key=True, autoincrement=False),
    Column("item_id", BigInteger, nullable=False),
    Column("sold_at", DateTime(timezone=False), nullable=False),  # market wall clock
    Column("quantity", Integer, nullable=False),
    Column("unit_price", BigInteger, nullable=False),  # copper
    Column("total", BigInteger, nullable=False),  # copper
    Column("event_id", Uuid(as_uuid=False), nullable=True),
    Index("sales_item_time", "item_id", "sold_at", "sale_id"),
)

candles = Table(
    "candles",
    metadata,
    Column("item_id", BigInteger, primary_key=True, autoincrement=False),
    Column("interval", String(3), primary_key=True),
    Column("bucket", DateTime(timezone=False), primary_key=True),
    Column("open", BigInteger, nullable=False),
    Column("open_at", DateTime(timezone=False), nullable=False),
    Column("open_id", BigInteger, nullable=False),
    Column("high", BigInteger, nullable=False),
    Column("low", BigInteger, nullable=False),
    Column("close", BigInteger, nullable=False),
    Column("close_at", DateTime(timezone=False), nullable=False),
    Column("close_id", BigInteger, nullable=False),
    Column("volume", BigInteger, nullable=False),
    Column("trades", Integer, nullable=False),
    Column("value", BigInteger, nullable=False),
)

READ_MODEL_TABLES = ("candles", "sales", "items")
