"""Helpers of the monolith's strangler-side tests: the service token and
the control database's ``strangler_write_owners``."""

from __future__ import annotations

from typing import Any

import psycopg

INTERNAL_TOKEN = "test-internal-token-0123456789"

#: The DDL of docs/market-write-side.md; the proxy's route store owns it in
#: production, the tests create it themselves.
WRITE_OWNERS_DDL = """
    CREATE TABLE strangler_write_owners (
        context text PRIMARY KEY,
        owner text NOT NULL,
        since timestamptz NOT NULL,
        route_version int NOT NULL
    )
"""


class ControlDatabase:
    """The control database's ``strangler_write_owners``, driven by a test."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _execute(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(statement, params)

    def create_table(self) -> None:
        self._execute("DROP TABLE IF EXISTS strangler_write_owners")
        self._execute(WRITE_OWNERS_DDL)

    def drop_table(self) -> None:
        self._execute("DROP TABLE IF EXISTS strangler_write_owners")

    def set_owner(self, owner: str, *, since: str = "2026-12-01T10:00:00+00:00", context: str = "market") -> None:
        self._execute(
            """INSERT INTO strangler_write_owners (context, owner, since, route_version) VALUES (%s, %s, %s, 7)
               ON CONFLICT (context) DO UPDATE SET owner = EXCLUDED.owner, since = EXCLUDED.since,
                      route_version = strangler_write_owners.route_version + 1""",
            (context, owner, since),
        )
