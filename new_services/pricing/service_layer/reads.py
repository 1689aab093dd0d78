"""The two reads pricing owns.

Each read is one query (see ``adapters.queries``) that also says until when
its facts hold (the instant the oldest trade leaves the window, or the next
trade stamped ahead of the clock enters it); :class:`PricingReads` keeps
those facts in a :class:`ReadCache` and answers from memory until then or
until the projector announces a change to the item.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from new_services.pricing.adapters.queries import QueryBuilder, run, trade_of
from new_services.pricing.domain.model import Candle, ItemRate, Trade, combine_all, item_rate
from new_services.pricing.domain.windows import RATE_WINDOW, TimeRange, cover, history_layout
from new_services.pricing.service_layer.read_cache import Facts, ReadCache, T, earliest

Series = list[tuple[dt.datetime, Candle]]


@dataclass(frozen=True)
class RateFacts:
    """An item's rate without its instant: :meth:`at` gives the rate at any
    instant its :class:`Facts` hold."""

    item_id: int
    sku: str
    window: Candle | None
    last: Trade | None
    before_window: Trade | None

    def at(self, as_of: dt.datetime) -> ItemRate:
        return item_rate(
            item_id=self.item_id,
            sku=self.sku,
            as_of=as_of,
            window=self.window,
            last=self.last,
            before_window=self.before_window,
        )


def _leaves_at(oldest: Candle | None, span: dt.timedelta) -> dt.datetime | None:
    """When the oldest trade of a window ``span`` long leaves it."""
    return None if oldest is None else oldest.open_key[0] + span


async def rate_facts(conn: AsyncConnection, *, item_id: int, as_of: dt.datetime) -> Facts[RateFacts]:
    since = as_of - RATE_WINDOW
    query = QueryBuilder(item_id)
    query.item()
    query.cover("window", cover(TimeRange(since, as_of)))
    query.last_trade_at_or_before("last", as_of)
    query.last_trade_at_or_before("before", since)
    query.first_trade_after("next", as_of)
    rows = await run(conn, query)
    if rows.sku is None:
        return Facts(None, as_of, None)
    window = combine_all(rows.of("window"))
    next_trade = next(iter(rows.of("next")), None)
    valid_until = earliest(_leaves_at(window, RATE_WINDOW), next_trade.open_key[0] if next_trade else None)
    rate = RateFacts(
        item_id=item_id,
        sku=rows.sku,
        window=window,
        last=trade_of(next(iter(rows.of("last")), None), item_id),
        before_window=trade_of(next(iter(rows.of("before")), None), item_id),
    )
    return Facts(rate, as_of, valid_until)


async def history_facts(
    conn: AsyncConnection, *, item_id: int, interval: str, days: int, until: dt.datetime
) -> Facts[Series]:
    """Candles of the item's trades in ``(until - days, until]``, one per
    bucket that had trades, oldest first. Bucket starts are absolute, so
    the series is the same at any instant with the same trades in window."""
    span = dt.timedelta(days=days)
    layout = history_layout(interval, until - span, until)
    query = QueryBuilder(item_id)
    query.item()
    query.cover("first", cover(layout.first_partial))
    if layout.middle is not None:
        query.candles("middle", layout.middle.interval, layout.middle.first, layout.middle.end)
    if layout.last_partial is not None:
        query.cover("last", cover(layout.last_partial))
    query.first_trade_after("next", until)
    rows = await run(conn, query)
    if rows.sku is None:
        return Facts(None, until, None)
    series: Series = []
    first = combine_all(rows.of("first"))
    if first is not None:
        series.append((layout.first_bucket, first))
    series.extend(sorted(rows.buckets.get("middle", []), key=lambda pair: pair[0]))
    last = combine_all(rows.of("last"))
    if last is not None:
        series.append((layout.last_bucket, last))
    next_trade = next(iter(rows.of("next")), None)
    oldest = series[0][1] if series else None
    return Facts(series, until, earliest(_leaves_at(oldest, span), next_trade.open_key[0] if next_trade else None))


class PricingReads:
    """The reads as the HTTP edge asks for them: from memory while the facts
    hold, else one query on a pooled connection."""

    def __init__(self, pool: AsyncConnectionPool, now: Callable[[], dt.datetime], cache: ReadCache) -> None:
        self.pool = pool
        self.now = now
        self.cache = cache

    async def rate(self, item_id: int) -> ItemRate | None:
        """The item's rate now; ``None`` for an unknown item."""
        now = self.now()

        async def query(conn: AsyncConnection) -> Facts[RateFacts]:
            return await rate_facts(conn, item_id=item_id, as_of=now)

        rate = (await self._facts(item_id, ("rate",), now, query)).value
        return None if rate is None else rate.at(now)

    async def history(self, item_id: int, *, interval: str, days: int) -> Facts[Series]:
        """The item's candles over the last ``days`` (``value`` ``None`` for
        an unknown item). The facts, not only the series: the same facts
        answer until they change, so the edge renders them once
        (:meth:`Facts.rendered`)."""
        now = self.now()

        async def query(conn: AsyncConnection) -> Facts[Series]:
            return await history_facts(conn, item_id=item_id, interval=interval, days=days, until=now)

        return await self._facts(item_id, ("history", interval, days), now, query)

    async def _facts(
        self, item_id: int, key: Hashable, now: dt.datetime, query: Callable[[AsyncConnection], Awaitable[Facts[T]]]
    ) -> Facts[T]:
        cached = self.cache.get(item_id, key, now)
        if cached is not None:
            return cached  # type: ignore[return-value]  # the key says which kind of facts it holds
        ticket = self.cache.ticket(item_id)
        async with self.pool.connection() as conn:
            facts = await query(conn)
        self.cache.put(item_id, key, facts, ticket)  # type: ignore[arg-type]
        return facts
