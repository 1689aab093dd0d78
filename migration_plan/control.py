"""What the plan keeps in the control database, beside the proxy's tables.

- ``strangler_plan_baselines``: the route's counters when it entered its
  current stage, so a stage's gates judge only the traffic of that stage.
- ``strangler_plan_steps``: every advance and rollback with its stages, who,
  why, whether it was forced and which gates failed then. The route version
  it made is the audit record (``strangler_route_versions``); this table
  adds what only the plan knows, for the dashboard's history.
- ``strangler_plan_samples``: requests per upstream (cumulative, as the proxy
  counts them) at points in time, for the share of traffic served by new
  services over the last hour. Written whenever the status is computed (and
  by the plan API's sampler); pruned after a day.

Synchronous psycopg: the CLI and the plan API call it briefly per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from migration_plan.figures import RouteCounters

SCHEMA = """
CREATE TABLE IF NOT EXISTS strangler_plan_baselines (
    route         text PRIMARY KEY,
    stage         text NOT NULL,
    route_version bigint NOT NULL,
    counters      jsonb NOT NULL,
    taken_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS strangler_plan_steps (
    id            bigserial PRIMARY KEY,
    endpoint      text NOT NULL,
    route         text NOT NULL,
    direction     text NOT NULL,
    from_stage    text NOT NULL,
    to_stage      text NOT NULL,
    route_version bigint NOT NULL,
    forced        boolean NOT NULL,
    failed_gates  jsonb NOT NULL,
    actor         text NOT NULL,
    reason        text NOT NULL,
    taken_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS strangler_plan_samples (
    id        bigserial PRIMARY KEY,
    totals    jsonb NOT NULL,
    taken_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS strangler_plan_samples_at ON strangler_plan_samples (taken_at);
"""
_LOCK_ID = 0x504C_414E  # advisory lock for the DDL ("PLAN")
SAMPLE_RETENTION = "1 day"


@dataclass(frozen=True)
class Baseline:
    route: str
    stage: str
    route_version: int
    counters: RouteCounters
    taken_at: datetime


@dataclass(frozen=True)
class Step:
    endpoint: str
    route: str
    direction: str
    from_stage: str
    to_stage: str
    route_version: int
    forced: bool
    failed_gates: list[str]
    actor: str
    reason: str


class ControlStore:
    """The plan's tables; one short connection per call (the CLI runs once,
    the API a few times a second at most)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._ready = False

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        conn = psycopg.connect(self.dsn, row_factory=dict_row, connect_timeout=5)
        if not self._ready:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
                conn.execute(SCHEMA)
            self._ready = True
        return conn

    def baselines(self) -> dict[str, Baseline]:
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM strangler_plan_baselines").fetchall()
        return {
            r["route"]: Baseline(
                r["route"], r["stage"], int(r["route_version"]), RouteCounters.from_json(r["counters"]), r["taken_at"]
            )
            for r in rows
        }

    def set_baseline(self, route: str, stage: str, route_version: int, counters: RouteCounters) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO strangler_plan_baselines (route, stage, route_version, counters) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (route) DO UPDATE SET stage = EXCLUDED.stage, route_version = EXCLUDED.route_version,"
                " counters = EXCLUDED.counters, taken_at = now()",
                (route, stage, route_version, Jsonb(counters.to_json())),
            )

    def record_step(self, step: Step) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO strangler_plan_steps (endpoint, route, direction, from_stage, to_stage, route_version,"
                " forced, failed_gates, actor, reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    step.endpoint,
                    step.route,
                    step.direction,
                    step.from_stage,
                    step.to_stage,
                    step.route_version,
                    step.forced,
                    Jsonb(step.failed_gates),
                    step.actor,
                    step.reason,
                ),
            )

    def steps(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM strangler_plan_steps ORDER BY id DESC LIMIT %s", (limit,)).fetchall()
        return [{**r, "taken_at": r["taken_at"].isoformat()} for r in rows]

    def add_sample(self, totals: dict[str, float], min_interval_s: float = 10.0) -> None:
        """Store ``totals`` unless a sample was stored in the last
        ``min_interval_s`` (a dashboard polling every second must not write
        a row per poll)."""
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO strangler_plan_samples (totals) SELECT %s WHERE NOT EXISTS"
                " (SELECT 1 FROM strangler_plan_samples WHERE taken_at > now() - make_interval(secs => %s))",
                (Jsonb(totals), min_interval_s),
            )
            conn.execute(f"DELETE FROM strangler_plan_samples WHERE taken_at < now() - interval '{SAMPLE_RETENTION}'")

    def oldest_sample_since(self, seconds: float) -> tuple[dict[str, float], datetime] | None:
        """The oldest sample of the last ``seconds``, with its time."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT totals, taken_at FROM strangler_plan_samples"
                " WHERE taken_at >= now() - make_interval(secs => %s) ORDER BY taken_at LIMIT 1",
                (seconds,),
            ).fetchone()
        return (dict(row["totals"]), row["taken_at"]) if row else None
