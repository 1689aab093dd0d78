"""The relay's Debezium offsets, as rows of a table in the control database.

Debezium's JDBC offset store (``debezium-storage-jdbc``, configured by
:func:`acl.debezium_config.offset_store_properties`) writes them about once
a second, each flush one transaction: ``DELETE``, one ``INSERT`` per entry,
``COMMIT``, rolled back on error. A crash (SIGKILL included) therefore leaves
the previous position or the new one, never a torn one, and the relay needs
no copy of its own (Kafka's file store rewrote ``offsets.dat`` in place and
took a torn file for "no offsets": a silent re-snapshot).

The relay reads the rows with plain SQL: ``offset_key`` is the source
partition (JSON text, ``["strangler-legacy-relay",{"server":"legacy"}]``),
``offset_val`` the position (JSON text: ``lsn``, ``lsn_commit``,
``lsn_proc``, ``txId``, ``ts_usec``; ``snapshot`` while one runs).
"""

from __future__ import annotations

import json
from typing import Any


class OffsetTable:
    """The table Debezium keeps the relay's position in (one per slot)."""

    def __init__(self, database_url: str, table: str) -> None:
        self.database_url, self.table = database_url, table

    def read(self) -> dict[str, Any]:
        """``{source partition: position}``, in the store's own order; empty
        if nothing was stored yet (no table: Debezium creates it at start)."""
        import psycopg
        from psycopg import sql

        query = sql.SQL("SELECT offset_key, offset_val FROM {} ORDER BY record_insert_ts, record_insert_seq")
        try:
            with psycopg.connect(self.database_url, autocommit=True) as conn:
                rows = conn.execute(query.format(sql.Identifier(self.table))).fetchall()
        except psycopg.errors.UndefinedTable:
            return {}
        return {key: None if value is None else json.loads(value) for key, value in rows}

    def write(self, offsets: dict[str, Any]) -> None:
        """Replace the stored position, as the store does (one transaction).
        For tests and repairs only: never while the relay runs, which would
        overwrite it at its next flush."""
        import psycopg
        from psycopg import sql

        table = sql.Identifier(self.table)
        with psycopg.connect(self.database_url) as conn:
            conn.execute(sql.SQL("DELETE FROM {}").format(table))
            for seq, (key, value) in enumerate(offsets.items(), start=1):
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (id, offset_key, offset_val, record_insert_ts, record_insert_seq)"
                        " VALUES (gen_random_uuid()::text, %s, %s, now(), %s)"
                    ).format(table),
                    (key, None if value is None else json.dumps(value, separators=(",", ":")), seq),
                )

    def exists(self) -> bool:
        return bool(self.read())

    def forget(self) -> None:
        """Drop the stored position (a fresh snapshot follows)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(self.table)))
