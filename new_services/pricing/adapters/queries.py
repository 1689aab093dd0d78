"""The read side: each HTTP answer is one SQL round trip, on a plain psycopg
connection from a pool, as a prepared statement.

Why not SQLAlchemy here: its async connection checkout and execution cost
more than the query itself (figures in docs/measured.md), and this is the
endpoint that has to beat the monolith tenfold.

A query is a ``UNION ALL`` of small parts, every row in one shape
(``kind, bucket, open, open_at, open_id, high, low, close, close_at,
close_id, volume, trades, value, sku``): the item's sku, whole stored
candles, raw trades of the edges of a cover (a trade is a one-trade candle)
and the index lookups of single trades. Python then combines the rows with
``domain.model``. Each part is an index range scan bounded by the cover, so
the cost does not grow with the number of sales.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection

from new_services.pricing.domain.model import Candle, Trade
from new_services.pricing.domain.windows import Cover, TimeRange

_CANDLE_COLUMNS = "open, open_at, open_id, high, low, close, close_at, close_id, volume, trades, value"
_TRADE_AS_CANDLE = (
    "unit_price, sold_at, sale_id, unit_price, unit_price, unit_price, sold_at, sale_id, quantity::bigint, 1, total"
)
_NO_CANDLE = ", ".join(
    ["NULL::bigint", "NULL::timestamp", "NULL::bigint"]
    + ["NULL::bigint"] * 3
    + ["NULL::timestamp", "NULL::bigint", "NULL::bigint", "NULL::int", "NULL::bigint"]
)


@dataclass
class QueryBuilder:
    """Collects the parts of one ``UNION ALL`` and their bound parameters."""

    item_id: int
    parts: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.params["item"] = self.item_id

    def bind(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"%({name})s"

    def item(self) -> None:
        self.parts.append(f"SELECT 'item', NULL::timestamp, {_NO_CANDLE}, sku FROM items WHERE item_id = %(item)s")

    def candles(self, kind: str, interval: str, first: dt.datetime, end: dt.datetime) -> None:
        self.parts.append(
            f"SELECT '{kind}', bucket, {_CANDLE_COLUMNS}, NULL FROM candles WHERE item_id = %(item)s "
            f"AND interval = {self.bind(interval)} AND bucket >= {self.bind(first)} AND bucket < {self.bind(end)}"
        )

    def trades(self, kind: str, span: TimeRange) -> None:
        lower = ">=" if span.start_inclusive else ">"
        upper = "<=" if span.end_inclusive else "<"
        self.parts.append(
            f"SELECT '{kind}', NULL::timestamp, {_TRADE_AS_CANDLE}, NULL FROM sales WHERE item_id = %(item)s "
            f"AND sold_at {lower} {self.bind(span.start)} AND sold_at {upper} {self.bind(span.end)}"
        )

    def cover(self, kind: str, cover: Cover) -> None:
        for run in cover.runs:
            self.candles(kind, run.interval, run.first, run.end)
        for span in cover.raw:
            self.trades(kind, span)

    def last_trade_at_or_before(self, kind: str, moment: dt.datetime) -> None:
        self.parts.append(
            f"(SELECT '{kind}', NULL::timestamp, {_TRADE_AS_CANDLE}, NULL FROM sales WHERE item_id = %(item)s "
            f"AND sold_at <= {self.bind(moment)} ORDER BY sold_at DESC, sale_id DESC LIMIT 1)"
        )

    def first_trade_after(self, kind: str, moment: dt.datetime) -> None:
        """The next trade to enter a window ending at ``moment`` as time goes
        on (a sale recorded with a time ahead of the market's clock)."""
        self.parts.append(
            f"(SELECT '{kind}', NULL::timestamp, {_TRADE_AS_CANDLE}, NULL FROM sales WHERE item_id = %(item)s "
            f"AND sold_at > {self.bind(moment)} ORDER BY sold_at, sale_id LIMIT 1)"
        )

    def sql(self) -> str:
        return "\nUNION ALL ".join(self.parts)


@dataclass
class Rows:
    """The answer of one query, grouped by kind."""

    sku: str | None = None
    candles: dict[str, list[Candle]] = field(default_factory=dict)
    buckets: dict[str, list[tuple[dt.datetime, Candle]]] = field(default_factory=dict)

    def of(self, kind: str) -> list[Candle]:
        return self.candles.get(kind, [])


async def run(conn: AsyncConnection, query: QueryBuilder) -> Rows:
    """Prepared at once (a cover has a few dozen shapes: each is planned once
    per connection, not once per request)."""
    cursor = await conn.execute(query.sql(), query.params, prepare=True)
    return group_rows(await cursor.fetchall())


def group_rows(rows: Sequence[Any]) -> Rows:
    grouped = Rows()
    for kind, bucket, o, o_at, o_id, high, low, close, c_at, c_id, volume, trades, value, sku in rows:
        if kind == "item":
            grouped.sku = sku
            continue
        candle = Candle(o, (o_at, o_id), high, low, close, (c_at, c_id), volume, trades, value)
        grouped.candles.setdefault(kind, []).append(candle)
        if bucket is not None:
            grouped.buckets.setdefault(kind, []).append((bucket, candle))
    return grouped


def trade_of(candle: Candle | None, item_id: int) -> Trade | None:
    """A one-trade candle (as the single-trade lookups return) as a Trade."""
    if candle is None:
        return None
    return Trade(
        sale_id=candle.open_key[1],
        item_id=item_id,
        sold_at=candle.open_key[0],
        quantity=candle.volume,
        unit_price=candle.open,
        total=candle.value,
    )
