"""The store on psycopg (async pool): the write side's transactions, the
sagas, the outbox, and the reads of the two list endpoints.

Why psycopg and not SQLAlchemy here: these are the request paths (one or
two statements per step); the projector keeps SQLAlchemy, as in pricing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from new_services.market.domain.model import Item, Listing, Player, Sale
from new_services.market.domain.saga import BUY, TERMINAL, Saga
from new_services.market.service_layer.ports import MarketStore, MarketTx, OutboxMessage

_LISTING_COLUMNS = (
    "listing_id, seller_id, item_id, quantity, quantity_remaining, unit_price, status, created_at, updated_at"
)
_SALE_COLUMNS = "sale_id, listing_id, buyer_id, seller_id, item_id, quantity, unit_price, total, fee, sold_at"


def listing_of(row: Sequence[Any]) -> Listing:
    return Listing(*row)


def sale_of(row: Sequence[Any]) -> Sale:
    return Sale(*row)


def saga_of(row: dict[str, Any]) -> Saga:
    return Saga(str(row["saga_id"]), row["kind"], row["state"], row["data"], row["result"])


class PgMarketTx(MarketTx):
    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self.conn = conn

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cursor = await self.conn.execute(sql, params)
        return await cursor.fetchone()

    async def lock_listing(self, listing_id: int) -> Listing | None:
        row = await self._one(
            f"SELECT {_LISTING_COLUMNS} FROM listings WHERE listing_id = %s FOR UPDATE", (listing_id,)
        )
        return None if row is None else listing_of(row)

    async def player(self, player_id: int) -> Player | None:
        row = await self._one("SELECT player_id, name, status FROM players WHERE player_id = %s", (player_id,))
        return None if row is None else Player(*row)

    async def item(self, item_id: int) -> Item | None:
        row = await self._one("SELECT item_id, sku, listable FROM items WHERE item_id = %s", (item_id,))
        return None if row is None else Item(*row)

    async def save_listing(self, listing: Listing) -> None:
        await self.conn.execute(
            f"""INSERT INTO listings ({_LISTING_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (listing_id) DO UPDATE SET quantity_remaining = EXCLUDED.quantity_remaining,
                   status = EXCLUDED.status, unit_price = EXCLUDED.unit_price, updated_at = EXCLUDED.updated_at""",
            (
                listing.listing_id,
                listing.seller_id,
                listing.item_id,
                listing.quantity,
                listing.quantity_remaining,
                listing.unit_price_copper,
                listing.status,
                listing.created_at,
                listing.updated_at,
            ),
        )

    async def next_listing_id(self) -> int:
        return int((await self._one("SELECT nextval('listings_id_seq')"))[0])

    async def next_sale_id(self) -> int:
        return int((await self._one("SELECT nextval('sales_id_seq')"))[0])

    async def insert_sale(self, sale: Sale) -> None:
        await self.conn.execute(
            f"INSERT INTO sales ({_SALE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                sale.sale_id,
                sale.listing_id,
                sale.buyer_id,
                sale.seller_id,
                sale.item_id,
                sale.quantity,
                sale.unit_price_copper,
                sale.total_copper,
                sale.fee_copper,
                sale.sold_at,
            ),
        )

    async def reserved_in_flight(self, listing_id: int, *, besides: str) -> int:
        row = await self._one(
            "SELECT coalesce(sum((data->>'quantity')::int), 0) FROM sagas"
            " WHERE kind = %s AND state <> ALL(%s) AND (data->>'listing_id')::bigint = %s AND saga_id <> %s",
            (BUY, list(TERMINAL), listing_id, besides),
        )
        return int(row[0])

    async def lock_saga(self, saga_id: str) -> Saga | None:
        async with self.conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(
                "SELECT saga_id, kind, state, data, result FROM sagas WHERE saga_id = %s FOR UPDATE", (saga_id,)
            )
            row = await cursor.fetchone()
        return None if row is None else saga_of(row)

    async def save_saga(self, saga: Saga) -> None:
        await self.conn.execute(
            """INSERT INTO sagas (saga_id, kind, state, data, result) VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (saga_id) DO UPDATE SET state = EXCLUDED.state, data = EXCLUDED.data,
                  result = EXCLUDED.result, updated_at = now()""",
            (
                saga.saga_id,
                saga.kind,
                saga.state,
                Jsonb(saga.data),
                None if saga.result is None else Jsonb(saga.result),
            ),
        )

    async def add_outbox(self, messages: Sequence[OutboxMessage]) -> None:
        async with self.conn.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO outbox (topic, key, value) VALUES (%s, %s, %s)",
                [(m.topic, m.key, m.value) for m in messages],
            )
        # Wake the relay when (and only if) the rows are committed.
        await self.conn.execute("NOTIFY market_outbox")


class PgMarketStore(MarketStore):
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MarketTx]:
        async with self.pool.connection() as conn, conn.transaction():
            yield PgMarketTx(conn)

    async def open_sagas(self, older_than_s: float = 0.0) -> list[Saga]:
        terminal = sorted(TERMINAL)
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(
                """SELECT saga_id, kind, state, data, result FROM sagas
                    WHERE state <> ALL(%s) AND updated_at <= now() - make_interval(secs => %s)
                    ORDER BY created_at""",
                (terminal, older_than_s),
            )
            return [saga_of(row) for row in await cursor.fetchall()]

    async def writes_settled(self) -> bool:
        """No saga unfinished and no outbox row unpublished: every write of
        the market is on the broker (the handback's condition). The saga
        predicate is ``sagas_open``'s, written out so the index serves it."""
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                """SELECT EXISTS (SELECT 1 FROM sagas WHERE state NOT IN ('done', 'compensated', 'refused'))
                       OR EXISTS (SELECT 1 FROM outbox WHERE published_at IS NULL)"""
            )
            row = await cursor.fetchone()
        return row is not None and not row[0]

    async def sale(self, sale_id: int) -> Sale | None:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(f"SELECT {_SALE_COLUMNS} FROM sales WHERE sale_id = %s", (sale_id,))
            row = await cursor.fetchone()
        return None if row is None else sale_of(row)

    async def listing(self, listing_id: int) -> Listing | None:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(f"SELECT {_LISTING_COLUMNS} FROM listings WHERE listing_id = %s", (listing_id,))
            row = await cursor.fetchone()
        return None if row is None else listing_of(row)


@dataclass(frozen=True)
class Page:
    count: int
    rows: list[Any]


class MarketReads:
    """The two list endpoints' queries, ordered as the monolith's selectors."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def exists(self, table: str, key: str, value: int) -> bool:
        assert (table, key) in {("items", "item_id"), ("listings", "listing_id")}
        async with self.pool.connection() as conn:
            cursor = await conn.execute(f"SELECT 1 FROM {table} WHERE {key} = %s", (value,))
            return await cursor.fetchone() is not None

    async def player(self, player_id: int) -> Player | None:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT player_id, name, status FROM players WHERE player_id = %s", (player_id,)
            )
            row = await cursor.fetchone()
        return None if row is None else Player(*row)

    async def _page(
        self, table: str, columns: str, order: str, filters: dict[str, Any], limit: int, offset: int
    ) -> Page:
        where = " AND ".join(f"{column} = %s" for column in filters) or "true"
        params = list(filters.values())
        async with self.pool.connection() as conn:
            cursor = await conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", params)
            count = int((await cursor.fetchone() or (0,))[0])
            if count == 0 or offset > count:
                return Page(count, [])
            cursor = await conn.execute(
                f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s",
                [*params, limit, offset],
            )
            return Page(count, list(await cursor.fetchall()))

    async def listings(self, filters: dict[str, Any], limit: int, offset: int) -> Page:
        columns = {"item": "item_id", "seller": "seller_id", "status": "status"}
        page = await self._page(
            "listings", _LISTING_COLUMNS, "listing_id DESC", {columns[k]: v for k, v in filters.items()}, limit, offset
        )
        return Page(page.count, [listing_of(row) for row in page.rows])

    async def sales(self, filters: dict[str, Any], limit: int, offset: int) -> Page:
        columns = {"item": "item_id", "buyer": "buyer_id", "seller": "seller_id", "listing": "listing_id"}
        page = await self._page(
            "sales",
            _SALE_COLUMNS,
            "sold_at DESC, sale_id DESC",
            {columns[k]: v for k, v in filters.items()},
            limit,
            offset,
        )
        return Page(page.count, [sale_of(row) for row in page.rows])
