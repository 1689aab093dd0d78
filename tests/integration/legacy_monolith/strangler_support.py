"""Helpers of the monolith's strangler-side tests: the service token and
the control database's ``strangler_write_owners``."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from strangler_proxy.store import WRITE_OWNERS_SCHEMA

INTERNAL_TOKEN = "test-internal-token-0123456789"


class ControlDatabase:
    """The control database's ``strangler_write_owners``, driven by a test."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _execute(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(statement, params)

    def create_table(self) -> None:
        self._execute("DROP TABLE IF EXISTS strangler_write_owners")
        self._execute(WRITE_OWNERS_SCHEMA)

    def drop_table(self) -> None:
        self._execute("DROP TABLE IF EXISTS strangler_write_owners")

    def set_owner(self, owner: str, *, since: str = "2026-12-01T10:00:00+00:00", context: str = "market") -> None:
        self._execute(
            """INSERT INTO strangler_write_owners (context, owner, since, route_version) VALUES (%s, %s, %s, 7)
               ON CONFLICT (context) DO UPDATE SET owner = EXCLUDED.owner, since = EXCLUDED.since,
                      route_version = strangler_write_owners.route_version + 1""",
            (context, owner, since),
        )

    def hand_back(self, *, offsets: dict[str, dict[str, int]] | None = None, context: str = "market") -> None:
        """The owner row after a flip back from the market service; with
        ``offsets``, after the market also declared the end of its events."""
        self._execute(
            """UPDATE strangler_write_owners SET owner = 'legacy', since = now(), handover_from = 'market',
                      handover_offsets = %s, route_version = route_version + 1 WHERE context = %s""",
            (Jsonb(offsets) if offsets is not None else None, context),
        )

    def declare(self, offsets: dict[str, dict[str, int]], *, context: str = "market") -> None:
        """What the market's handback writes on the row."""
        self._execute(
            "UPDATE strangler_write_owners SET handover_offsets = %s WHERE context = %s", (Jsonb(offsets), context)
        )

    def flip(self, owner: str, *, nowait: bool = False, context: str = "market") -> None:
        """What a flip of the route store does to the owner row: lock it,
        update it, commit. ``nowait``: fail at once if the row is locked."""
        with psycopg.connect(self.url) as conn:  # one transaction, committed on exit
            conn.execute(
                "SELECT 1 FROM strangler_write_owners WHERE context = %s FOR UPDATE" + (" NOWAIT" if nowait else ""),
                (context,),
            )
            conn.execute(
                """UPDATE strangler_write_owners SET owner = %s, since = now(), route_version = route_version + 1
                    WHERE context = %s""",
                (owner, context),
            )

    def lock_waiters(self) -> int:
        """Sessions of the control database waiting for a lock now."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(
                """SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND wait_event_type = 'Lock'"""
            ).fetchone()
            return int(row[0]) if row else 0
