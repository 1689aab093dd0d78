"""The read model's change feed: the projector announces which items a
transaction changed, the API processes listen and drop what they cached.

PostgreSQL's ``NOTIFY`` is the channel because it is transactional: an
announcement is delivered when, and only if, the transaction that wrote the
rows commits, and in commit order. Payload: comma-separated item ids, or
``*`` for "everything" (a rebuild, or more ids than a payload holds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Protocol

import psycopg
from sqlalchemy import Connection, text

CHANNEL = "pricing_read_model"
EVERYTHING = "*"
#: PostgreSQL refuses payloads of 8000 bytes or more.
MAX_PAYLOAD = 7900
#: How often a quiet listener checks its connection is still alive.
PROBE_EVERY_S = 5.0
RECONNECT_AFTER_S = 1.0

log = logging.getLogger(__name__)


class ChangeListener(Protocol):
    """What the feed tells (``service_layer.read_cache.ReadCache`` is one)."""

    def start_following(self) -> None: ...

    def stop_following(self) -> None: ...

    def changed(self, item_ids: Iterable[int]) -> None: ...

    def changed_everything(self) -> None: ...


def payload_for(item_ids: Iterable[int] | None) -> str:
    if item_ids is None:
        return EVERYTHING
    payload = ",".join(str(item_id) for item_id in sorted(set(item_ids)))
    return EVERYTHING if len(payload) > MAX_PAYLOAD else payload


def announce(conn: Connection, item_ids: Iterable[int] | None) -> None:
    """Announce, when ``conn``'s transaction commits, that these items
    changed (``None``: everything did). Nothing to say, nothing sent."""
    payload = payload_for(item_ids)
    if payload:
        conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload})


def apply_announcement(cache: ChangeListener, payload: str) -> None:
    if payload == EVERYTHING:
        cache.changed_everything()
    else:
        cache.changed(int(item_id) for item_id in payload.split(",") if item_id)


async def follow(dsn: str, cache: ChangeListener) -> None:
    """Keep ``cache`` in step with the read model until cancelled: listen,
    apply each announcement, and while not connected let the cache keep
    nothing (reconnecting every second)."""
    while True:
        try:
            await _listen(dsn, cache)
        except (psycopg.Error, OSError) as exc:
            log.warning("change feed lost (%s); reads go to the database until it is back", exc)
        finally:
            cache.stop_following()
        await asyncio.sleep(RECONNECT_AFTER_S)


async def _listen(dsn: str, cache: ChangeListener) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(f"LISTEN {CHANNEL}")
        cache.start_following()
        while True:
            async for notice in conn.notifies(timeout=PROBE_EVERY_S):
                apply_announcement(cache, notice.payload)
            await conn.execute("SELECT 1")  # a dead server shows here, not as silence
