"""The route store: versioned tables in PostgreSQL, audit, mismatches, NOTIFY.

Every change inserts a new row in ``strangler_route_versions`` (the whole
table as JSON, who, when, why, what kind of change, which version it
restores) and, in the same transaction, ``pg_notify('strangler_routes',
version)``: PostgreSQL delivers the notification only on commit, so every
listening proxy process sees either nothing or a committed version. Writers
serialise on an advisory transaction lock so a read-modify-write (``set``)
never loses a concurrent change. The version rows are the audit log.

The same transaction writes ``strangler_write_owners`` (see
``docs/market-write-side.md``): who writes each context's data changes only
with a route version, and the monolith and the services read it from here.

Listeners also poll the latest version once a second, so a notification lost
during a reconnect still propagates within about a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from strangler_proxy.route_repository import Mutation, Unchanged, Version, WriteOwner, owner_changes

__all__ = ["CHANNEL", "RouteStore", "Unchanged", "Version"]

log = logging.getLogger("strangler_proxy.store")

CHANNEL = "strangler_routes"
_LOCK_ID = 0x5752_4F55  # advisory lock key for writers and DDL

SCHEMA = """
CREATE TABLE IF NOT EXISTS strangler_route_versions (
    version      bigserial PRIMARY KEY,
    spec         jsonb NOT NULL,
    actor        text NOT NULL,
    reason       text NOT NULL,
    kind         text NOT NULL,
    restored_from bigint,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS strangler_mismatches (
    id           bigserial PRIMARY KEY,
    route        text NOT NULL,
    request_id   text NOT NULL,
    method       text NOT NULL,
    target       text NOT NULL,
    legacy_status int NOT NULL,
    new_status   int NOT NULL,
    legacy_body  text NOT NULL,
    new_body     text NOT NULL,
    differences  jsonb NOT NULL,
    noise        jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS strangler_mismatches_route ON strangler_mismatches (route, id DESC);
"""

#: Who writes each context (docs/market-write-side.md); the monolith's and
#: the market's tests create it from here too. The ALTERs bring a table of
#: an older stack up to date.
WRITE_OWNERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS strangler_write_owners (
    context       text PRIMARY KEY,
    owner         text NOT NULL,
    since         timestamptz NOT NULL,
    route_version int NOT NULL
);
ALTER TABLE strangler_write_owners ADD COLUMN IF NOT EXISTS handover_from text;
ALTER TABLE strangler_write_owners ADD COLUMN IF NOT EXISTS handover_offsets jsonb;
"""


def _version(row: dict[str, Any]) -> Version:
    return Version(
        row["version"], row["spec"], row["actor"], row["reason"], row["kind"], row["restored_from"], row["created_at"]
    )


def _owner(row: dict[str, Any]) -> WriteOwner:
    return WriteOwner(
        row["context"],
        row["owner"],
        row["since"],
        int(row["route_version"]),
        row.get("handover_from"),
        row.get("handover_offsets"),
    )


class RouteStore:
    """The PostgreSQL ``RouteRepository`` and ``MismatchLog``. Owns one
    connection for writes/reads and one for LISTEN."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: psycopg.AsyncConnection[dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        self._conn = await psycopg.AsyncConnection.connect(self.dsn, row_factory=dict_row, autocommit=False)
        async with self._conn.transaction():
            await self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
            await self._conn.execute(SCHEMA + WRITE_OWNERS_SCHEMA)
            row = await (await self._conn.execute("SELECT count(*) AS n FROM strangler_route_versions")).fetchone()
            if row and row["n"] == 0:
                await self._conn.execute(
                    "INSERT INTO strangler_route_versions (spec, actor, reason, kind) VALUES (%s, %s, %s, %s)",
                    (Jsonb({"routes": []}), "strangler-proxy", "initial table: everything to legacy", "init"),
                )

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _reconnect_if_needed(self) -> psycopg.AsyncConnection[dict[str, Any]]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await psycopg.AsyncConnection.connect(self.dsn, row_factory=dict_row, autocommit=False)
        return self._conn

    async def _fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """A read, sent again once on a new connection if the old one turned
        out dead (PostgreSQL restarted since its last use: a connection only
        learns that when a query fails). Reads only: a write cut at its
        commit has an unknown outcome, so it is never resent."""
        async with self._lock:
            conn = await self._reconnect_if_needed()
            try:
                return await self._read(conn, sql, params)
            except psycopg.OperationalError:
                if not conn.broken:
                    raise
            return await self._read(await self._reconnect_if_needed(), sql, params)

    @staticmethod
    async def _read(
        conn: psycopg.AsyncConnection[dict[str, Any]], sql: str, params: tuple[Any, ...]
    ) -> list[dict[str, Any]]:
        async with conn.transaction():
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

    async def latest(self) -> Version:
        rows = await self._fetch("SELECT * FROM strangler_route_versions ORDER BY version DESC LIMIT 1")
        return _version(rows[0])

    async def latest_number(self) -> int:
        rows = await self._fetch("SELECT max(version) AS v FROM strangler_route_versions")
        return int(rows[0]["v"] or 0)

    async def get(self, version: int) -> Version | None:
        rows = await self._fetch("SELECT * FROM strangler_route_versions WHERE version = %s", (version,))
        return _version(rows[0]) if rows else None

    async def history(self, limit: int = 20) -> list[Version]:
        rows = await self._fetch("SELECT * FROM strangler_route_versions ORDER BY version DESC LIMIT %s", (limit,))
        return [_version(r) for r in rows]

    async def change(
        self,
        mutate: Mutation,
        *,
        actor: str,
        reason: str,
        kind: str,
    ) -> tuple[Version, Version]:
        """Atomic read-modify-write: ``mutate(latest, get)`` returns the new
        spec (validated by the caller, raising to refuse) and the version it
        restores, if any. Returns (old, new). Raises ``Unchanged``."""
        async with self._lock:
            conn = await self._reconnect_if_needed()
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
                cur = await conn.execute("SELECT * FROM strangler_route_versions ORDER BY version DESC LIMIT 1")
                old = _version(await cur.fetchone())  # type: ignore[arg-type]

                async def get(v: int) -> Version | None:
                    c = await conn.execute("SELECT * FROM strangler_route_versions WHERE version = %s", (v,))
                    r = await c.fetchone()
                    return _version(r) if r else None

                spec, restored = await mutate(old, get)
                if json.dumps(spec, sort_keys=True) == json.dumps(old.spec, sort_keys=True):
                    raise Unchanged(f"version {old.version} already is that table")
                cur = await conn.execute(
                    "INSERT INTO strangler_route_versions (spec, actor, reason, kind, restored_from)"
                    " VALUES (%s, %s, %s, %s, %s) RETURNING *",
                    (Jsonb(spec), actor, reason, kind, restored),
                )
                new = _version(await cur.fetchone())  # type: ignore[arg-type]
                await self._record_owners(conn, new)
                await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(new.version)))
        return old, new

    @staticmethod
    async def _record_owners(conn: psycopg.AsyncConnection[dict[str, Any]], new: Version) -> None:
        """Write owner rows for ``new`` inside the caller's transaction (the
        writer's advisory lock is held, so the rows read here stay current)."""
        cur = await conn.execute("SELECT * FROM strangler_write_owners")
        current = {r["context"]: _owner(r) for r in await cur.fetchall()}
        changes = owner_changes(current, new)
        if changes:
            # A legacy write holds its context's owner row FOR SHARE until it
            # commits. EXCLUSIVE mode waits for every such write in flight and
            # holds new ones back until this flip commits, also when the row
            # does not exist yet (the first flip), where a row lock could not.
            await conn.execute("LOCK TABLE strangler_write_owners IN EXCLUSIVE MODE")
        for o in changes:
            await conn.execute(
                "INSERT INTO strangler_write_owners (context, owner, since, route_version, handover_from)"
                " VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (context) DO UPDATE SET owner = EXCLUDED.owner, since = EXCLUDED.since,"
                " route_version = EXCLUDED.route_version, handover_from = EXCLUDED.handover_from,"
                " handover_offsets = NULL",
                (o.context, o.owner, o.since, o.route_version, o.handover_from),
            )

    async def owners(self) -> list[WriteOwner]:
        rows = await self._fetch("SELECT * FROM strangler_write_owners ORDER BY context")
        return [_owner(r) for r in rows]

    async def record_mismatch(self, m: Any) -> None:
        await self._fetch(
            "INSERT INTO strangler_mismatches (route, request_id, method, target, legacy_status, new_status,"
            " legacy_body, new_body, differences, noise) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id",
            (
                m.route,
                m.request_id,
                m.method,
                m.target,
                m.legacy[0],
                m.new[0],
                m.legacy[2].decode("utf-8", "replace"),
                m.new[2].decode("utf-8", "replace"),
                Jsonb(m.differences),
                Jsonb(m.noise),
            ),
        )

    async def mismatches(self, route: str | None, limit: int = 20) -> list[dict[str, Any]]:
        if route:
            rows = await self._fetch(
                "SELECT * FROM strangler_mismatches WHERE route = %s ORDER BY id DESC LIMIT %s", (route, limit)
            )
        else:
            rows = await self._fetch("SELECT * FROM strangler_mismatches ORDER BY id DESC LIMIT %s", (limit,))
        for r in rows:
            r["created_at"] = r["created_at"].isoformat()
        return rows

    async def mismatch_counts(self) -> dict[str, int]:
        rows = await self._fetch("SELECT route, count(*) AS n FROM strangler_mismatches GROUP BY route")
        return {r["route"]: int(r["n"]) for r in rows}

    async def listen(self, on_version: Callable[[int], Awaitable[None]], stop: asyncio.Event) -> None:
        """Call ``on_version(n)`` for every new version until ``stop``;
        reconnects with backoff and polls once a second as a safety net."""
        backoff = 0.2
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    backoff = 0.2
                    cur = await conn.execute("SELECT max(version) FROM strangler_route_versions")
                    row = await cur.fetchone()
                    await on_version(int(row[0] or 0) if row else 0)
                    while not stop.is_set():
                        latest = 0
                        async for note in conn.notifies(timeout=0.5):
                            try:
                                latest = max(latest, int(note.payload))
                            except ValueError:
                                continue
                            break
                        if not latest:
                            cur = await conn.execute("SELECT max(version) FROM strangler_route_versions")
                            row = await cur.fetchone()
                            latest = int(row[0] or 0) if row else 0
                        await on_version(latest)
            except (psycopg.Error, OSError) as exc:
                if stop.is_set():
                    return
                log.warning("route listener lost its connection; retrying", extra={"error": str(exc)})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 2.0)
