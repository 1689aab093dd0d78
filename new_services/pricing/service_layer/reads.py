"""The two reads pricing owns, each one query (see ``adapters.queries``)."""

from __future__ import annotations

import datetime as dt

from psycopg import AsyncConnection

from new_services.pricing.adapters.queries import QueryBuilder, run, trade_of
from new_services.pricing.domain.model import Candle, ItemRate, combine_all, item_rate
from new_services.pricing.domain.windows import RATE_WINDOW, TimeRange, cover, history_layout


async def rate(conn: AsyncConnection, *, item_id: int, as_of: dt.datetime) -> ItemRate | None:
    """The item's rate at ``as_of`` (wall clock); ``None`` for an unknown item."""
    since = as_of - RATE_WINDOW
    query = QueryBuilder(item_id)
    query.item()
    query.cover("window", cover(TimeRange(since, as_of)))
    query.last_trade_at_or_before("last", as_of)
    query.last_trade_at_or_before("before", since)
    rows = await run(conn, query)
    if rows.sku is None:
        return None
    return item_rate(
        item_id=item_id, sku=rows.sku, as_of=as_of, window=combine_all(rows.of("window")),
        last=trade_of(next(iter(rows.of("last")), None), item_id),
        before_window=trade_of(next(iter(rows.of("before")), None), item_id),
    )


async def history(conn: AsyncConnection, *, item_id: int, interval: str, days: int,
                  until: dt.datetime) -> list[tuple[dt.datetime, Candle]] | None:
    """Candles of the item's trades in ``(until - days, until]``, one per
    bucket that had trades, oldest first; ``None`` for an unknown item."""
    layout = history_layout(interval, until - dt.timedelta(days=days), until)
    query = QueryBuilder(item_id)
    query.item()
    query.cover("first", cover(layout.first_partial))
    if layout.middle is not None:
        query.candles("middle", layout.middle.interval, layout.middle.first, layout.middle.end)
    if layout.last_partial is not None:
        query.cover("last", cover(layout.last_partial))
    rows = await run(conn, query)
    if rows.sku is None:
        return None
    series: list[tuple[dt.datetime, Candle]] = []
    first = combine_all(rows.of("first"))
    if first is not None:
        series.append((layout.first_bucket, first))
    series.extend(sorted(rows.buckets.get("middle", []), key=lambda pair: pair[0]))
    last = combine_all(rows.of("last"))
    if last is not None:
        series.append((layout.last_bucket, last))
    return series
