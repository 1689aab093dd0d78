"""The route store's connection to the control database outlives a
PostgreSQL restart: the first read after it is sent again on a new
connection instead of answering the admin API 503 once."""

from __future__ import annotations

import asyncio

import psycopg

from strangler_proxy.store import RouteStore


def cut_store_connections(dsn: str) -> int:
    """What a server restart does to a client: every other session of the database ends."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        row = cur.fetchone()
        return int(row[0]) if row else 0


def test_a_read_after_the_connection_died_is_answered(control_dsn: str) -> None:
    async def scenario() -> tuple[int, int]:
        store = RouteStore(control_dsn)
        await store.open()
        try:
            before = (await store.latest()).version
            assert cut_store_connections(control_dsn) >= 1
            return before, (await store.latest()).version
        finally:
            await store.close()

    before, after = asyncio.run(scenario())
    assert before == after == 1
