"""HTTP routes every new service has, next to its own API:

- ``GET /healthz``: the process is alive (no dependency checked).
- ``GET /readyz``: ready = the database is migrated to head *and* the
  projector is alive and caught up with its event stream (lag within
  ``ready_max_lag`` events). 200 when ready, 503 otherwise, same body, with
  the lag and the counters (what ``strangler services list`` shows).
- ``POST /_service/rebuild`` (bearer admin token): drop the read model and
  its offsets in one transaction and bump the generation; the projector
  notices and replays its topics from the beginning.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import JSONResponse
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from new_services.platform import state
from new_services.platform.migrations import current_revision, head_revision

#: A projector whose heartbeat is older than this is not counted as alive.
HEARTBEAT_STALE_S = 5.0


@dataclass(frozen=True)
class ServiceFacts:
    """What the platform routes need to know about the service."""

    service: str
    consumer: str
    script_location: Path
    admin_token: str
    ready_max_lag: int
    reset_read_model: Callable[[Connection], None]


def _readiness(conn: Connection, facts: ServiceFacts, head: str | None) -> dict[str, Any]:
    revision = current_revision(conn)
    status = state.read_status(conn, facts.consumer) if revision is not None else None
    now = datetime.now(UTC)
    age = status.heartbeat_age_s(now) if status else None
    lag = status.lag_events if status else None
    migrated = revision is not None and revision == head
    projector_alive = age is not None and age <= HEARTBEAT_STALE_S
    caught_up = lag is not None and lag <= facts.ready_max_lag
    return {
        "service": facts.service,
        "ready": migrated and projector_alive and caught_up,
        "migrated": migrated,
        "revision": revision,
        "head": head,
        "projector_alive": projector_alive,
        "lag": {
            "events": lag,
            "max_ready": facts.ready_max_lag,
            "heartbeat_age_s": None if age is None else round(age, 3),
        },
        "events_applied": status.events_applied if status else 0,
        "events_ignored": status.events_ignored if status else 0,
        "events_skipped": status.events_skipped if status else 0,
        "events_rejected": status.events_rejected if status else 0,
        "generation": status.generation if status else 0,
        # topics the broker lost and re-created, replayed from their start
        "topic_resets": status.topic_resets if status else 0,
        "last_event_time": status.last_event_time.isoformat() if status and status.last_event_time else None,
        "rebuilt_at": status.rebuilt_at.isoformat() if status and status.rebuilt_at else None,
    }


def _check_token(authorization: str | None, token: str) -> None:
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise HTTPException(status_code=401, detail="admin token required", headers={"WWW-Authenticate": "Bearer"})


def platform_router(facts: ServiceFacts, engine: AsyncEngine) -> APIRouter:
    """The routes above, for one service (kept out of its OpenAPI document:
    they are operations, not the service's contract)."""
    router = APIRouter(include_in_schema=False)
    head = head_revision(facts.script_location)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "alive", "service": facts.service}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        async with engine.connect() as conn:
            body = await conn.run_sync(_readiness, facts, head)
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    @router.post("/_service/rebuild")
    async def rebuild(authorization: str | None = Header(default=None)) -> dict[str, Any]:
        _check_token(authorization, facts.admin_token)
        async with engine.begin() as conn:
            generation = await conn.run_sync(state.rebuild, facts.consumer, facts.reset_read_model)
        return {"service": facts.service, "generation": generation, "rebuilding": True}

    return router


def run_under_uvicorn(app: Any, *, host: str, port: int) -> None:
    """Serve ``app`` as every new service does: uvloop + httptools, no access
    log, the level from ``STRANGLER_LOG_LEVEL``."""
    import uvicorn  # only the serving process needs it

    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=os.environ.get("STRANGLER_LOG_LEVEL", "info").lower(),
    )
