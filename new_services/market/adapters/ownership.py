"""Who owns the market's writes: ``strangler_write_owners`` in the control
database (docs/market-write-side.md). No table, no row, or no control
database configured: ``legacy``.

Before its first write after becoming the owner, the market waits (bounded,
by polling a condition) until its projector reports no lag with a heartbeat
taken after the flip, so it has seen every legacy write the stream carries.

Every write runs inside :meth:`Ownership.writing`, which counts it as in
flight *before* reading the owner. After a flip back to legacy, the
handback (``service_layer/handback.py``) waits for that count to reach zero
once it has read the new owner: a write counted later reads the new owner and
is refused, so none can commit after the market declared its last event.
One ``serve`` process per market database (as ``strangler up`` and the
compose file run it) makes that count the whole truth.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

CONTEXT = "market"
SERVICE = "market"


@dataclass(frozen=True)
class Owner:
    owner: str
    since: dt.datetime | None
    route_version: int | None = None
    #: the service handing the writes back to legacy, while it does
    handover_from: str | None = None
    #: whether that service has declared its last event's position
    handover_declared: bool = False

    @property
    def handing_back(self) -> bool:
        """The writes went back to legacy and the market has not yet
        declared where its last event is."""
        return self.owner != SERVICE and self.handover_from == SERVICE and not self.handover_declared

    def refusal_body(self) -> dict[str, Any]:
        since = self.since.isoformat() if self.since else None
        detail = f"Writes to market are owned by {self.owner}" + (f" since {since}." if since else ".")
        return {
            "detail": detail,
            "code": "writes_moved",
            "extra": {"context": CONTEXT, "owner": self.owner, "since": since},
        }


class Ownership:
    def __init__(
        self,
        control_dsn: str | None,
        market_pool: AsyncConnectionPool[Any],
        *,
        consumer: str = "market",
        catch_up_timeout_s: float = 10.0,
        heartbeat_fresh_s: float = 5.0,
    ) -> None:
        self.control_dsn = control_dsn
        self.market_pool = market_pool
        self.consumer = consumer
        self.catch_up_timeout_s = catch_up_timeout_s
        self.heartbeat_fresh_s = heartbeat_fresh_s
        self._caught_up_since: dt.datetime | None = None
        self._lock = asyncio.Lock()
        #: writes between their owner check and their response
        self.in_flight = 0

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """Count a write as in flight for the block; read the owner inside
        it (see the module docstring for why in that order)."""
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    async def owner(self) -> Owner:
        """Read fresh for every write (one indexed query on a small table)."""
        if not self.control_dsn:
            return Owner("legacy", None)
        try:
            async with await psycopg.AsyncConnection.connect(self.control_dsn, autocommit=True) as conn:
                cursor = await conn.execute(
                    """SELECT owner, since, route_version, handover_from, handover_offsets IS NOT NULL
                         FROM strangler_write_owners WHERE context = %s""",
                    (CONTEXT,),
                )
                row = await cursor.fetchone()
        except psycopg.errors.UndefinedTable:
            return Owner("legacy", None)
        if row is None:
            return Owner("legacy", None)
        return Owner(str(row[0]), row[1], int(row[2]), row[3], bool(row[4]))

    async def declare_handed_back(self, route_version: int, offsets: dict[str, dict[str, int]]) -> bool:
        """Record where the market's last event is (topic -> partition ->
        end offset) on the owner row of ``route_version``; False if the row
        moved on meanwhile (another flip) or was declared already."""
        if not self.control_dsn:
            return False
        async with await psycopg.AsyncConnection.connect(self.control_dsn, autocommit=True) as conn:
            cursor = await conn.execute(
                """UPDATE strangler_write_owners SET handover_offsets = %s
                    WHERE context = %s AND route_version = %s AND handover_from = %s
                      AND handover_offsets IS NULL""",
                (Jsonb(offsets), CONTEXT, route_version, SERVICE),
            )
            return cursor.rowcount == 1

    async def caught_up(self, owner: Owner) -> bool:
        """True once the projector showed no lag after ``owner.since``; waits
        at most ``catch_up_timeout_s``."""
        if owner.since is not None and self._caught_up_since == owner.since:
            return True
        async with self._lock:
            deadline = time.monotonic() + self.catch_up_timeout_s
            while True:
                if await self._projector_idle(owner.since):
                    self._caught_up_since = owner.since
                    return True
                if time.monotonic() >= deadline:
                    log.warning("market owns the writes since %s but its projector still lags", owner.since)
                    return False
                await asyncio.sleep(0.1)

    async def _projector_idle(self, since: dt.datetime | None) -> bool:
        async with self.market_pool.connection() as conn:
            cursor = await conn.execute(
                """SELECT lag_events, heartbeat_at, now() FROM projection_state WHERE consumer = %s""",
                (self.consumer,),
            )
            row = await cursor.fetchone()
        if row is None or row[0] is None or row[1] is None:
            return False
        lag, heartbeat, now = row
        fresh = (now - heartbeat).total_seconds() <= self.heartbeat_fresh_s
        after_flip = since is None or heartbeat >= since
        return bool(lag == 0 and fresh and after_flip)
