"""The legacy database side of sync-back: one transaction per consumed batch.

Order inside the transaction (the contract, docs/market-write-side.md):

1. ``SELECT pg_logical_emit_message(true, 'strangler.syncback', <event ids>)``
   first, so the relay meets the marker before any row of the transaction
   and tags them all (:mod:`acl.syncback.tagging`);
2. the rows, one savepoint per event, after claiming the event's id in
   ``strangler_syncback_applied`` (a second delivery of an event id, even at
   another offset, changes nothing);
3. the batch's Kafka offsets in ``strangler_syncback_offsets`` (the loop
   seeks there at start: the rows and the position commit together);
4. the legacy id sequences raised to at least every id written
   (``setval(GREATEST(...))``), so the monolith's next ``nextval`` cannot
   collide with a row written here once it takes the writes back.

Foreign keys are checked per statement (``SET CONSTRAINTS ALL IMMEDIATE``;
Django creates them deferred), so a bad event fails inside its savepoint,
not at COMMIT for the whole batch.

``strangler_syncback_topics`` keeps the broker's id of the topic the
offsets were read from: a broker that lost its topics re-creates them under
new ids, and the loop then replays the topic from its start
(:mod:`new_services.platform.topic_identity`); the applied ledger makes
that replay change nothing already written.

The ``strangler_*`` tables are created here if missing: bookkeeping of
sync-back in the legacy database, not part of the monolith's schema, and not
captured (not in the Debezium publication).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from acl.syncback import SYNCBACK_MESSAGE_PREFIX
from acl.syncback.reverse import WRITTEN_TABLES, RowWrite

log = logging.getLogger("acl.syncback")

OFFSETS_TABLE = "strangler_syncback_offsets"
APPLIED_TABLE = "strangler_syncback_applied"
TOPICS_TABLE = "strangler_syncback_topics"
#: How long an applied event id is remembered. The outbox redelivers within
#: seconds to minutes; a month is plenty and keeps the ledger bounded.
APPLIED_RETENTION = "30 days"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {OFFSETS_TABLE} (
    topic text NOT NULL,
    partition integer NOT NULL,
    next_offset bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);
CREATE TABLE IF NOT EXISTS {TOPICS_TABLE} (
    topic text PRIMARY KEY,
    topic_id text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {APPLIED_TABLE} (
    event_id text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""


class ApplyError(RuntimeError):
    """The event's rows cannot be written (the reason goes to the DLQ)."""


class MissingDependency(ApplyError):
    """A row this event needs is not there yet (a sale before its listing:
    they travel on different partitions). The loop retries it for a while."""


class SyncbackTransaction:
    """The open transaction of one batch (see the module docstring)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self.written: dict[str, int] = {}

    def apply(self, event_id: str, writes: Sequence[RowWrite]) -> bool:
        """Write one event's rows in a savepoint; False if this event id was
        applied before (nothing written). Raises :class:`ApplyError` (or a
        psycopg error) with the savepoint rolled back."""
        with self._conn.transaction():
            claimed = self._conn.execute(
                f"INSERT INTO {APPLIED_TABLE} (event_id) VALUES (%s) ON CONFLICT DO NOTHING", (event_id,)
            ).rowcount
            if not claimed:
                return False
            for write in writes:
                self._write(write)
        for write in writes:
            if write.action == "insert":
                self.written[write.table] = max(self.written.get(write.table, 0), write.id)
        return True

    def _write(self, write: RowWrite) -> None:
        if write.requires is not None:
            needed_table, row_id = write.requires
            query = sql.SQL("SELECT 1 FROM {} WHERE id = %s").format(sql.Identifier(needed_table))
            if self._conn.execute(query, (row_id,)).fetchone() is None:
                raise MissingDependency(f"{needed_table} has no row {row_id} (needed by {write.table} {write.id})")
        table = sql.Identifier(write.table)
        columns = list(write.values)
        if write.action == "insert":
            query = sql.SQL("INSERT INTO {} (id, {}) VALUES (%s, {}) ON CONFLICT (id) DO NOTHING").format(
                table,
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            )
            if self._conn.execute(query, (write.id, *write.values.values())).rowcount == 0:
                self._check_same_row(write)
            return
        query = sql.SQL("UPDATE {} SET {} WHERE id = %s").format(
            table, sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in columns)
        )
        if self._conn.execute(query, (*write.values.values(), write.id)).rowcount == 0:
            raise ApplyError(f"{write.table} has no row {write.id} to update")

    def _check_same_row(self, write: RowWrite) -> None:
        """An insert met an existing id: fine if the row already says the same
        (written before under another event id), an error otherwise (the two
        sides handed out the same id)."""
        columns = list(write.values)
        query = sql.SQL("SELECT {} FROM {} WHERE id = %s").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(write.table)
        )
        row = self._conn.execute(query, (write.id,)).fetchone()
        existing = dict(zip(columns, row or (), strict=False))
        differing = {c: (existing.get(c), v) for c, v in write.values.items() if existing.get(c) != v}
        if differing:
            raise ApplyError(f"{write.table} already has a different row {write.id}: {differing}")

    def store_offsets(self, topic: str, offsets: Mapping[int, int]) -> None:
        """``partition -> next offset to read``, in this transaction."""
        for partition, next_offset in offsets.items():
            self._conn.execute(
                f"INSERT INTO {OFFSETS_TABLE} (topic, partition, next_offset) VALUES (%s, %s, %s)"
                " ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset, updated_at = now()",
                (topic, partition, next_offset),
            )

    def reset_topic(self, topic: str, *, lost: bool, topic_id: str | None) -> None:
        """``lost``: forget the topic's offsets (read from the start again).
        Then remember ``topic_id`` as the topic's id (None: forget it)."""
        if lost:
            self._conn.execute(f"DELETE FROM {OFFSETS_TABLE} WHERE topic = %s", (topic,))
        if topic_id is None:
            self._conn.execute(f"DELETE FROM {TOPICS_TABLE} WHERE topic = %s", (topic,))
            return
        self._conn.execute(
            f"INSERT INTO {TOPICS_TABLE} (topic, topic_id) VALUES (%s, %s)"
            " ON CONFLICT (topic) DO UPDATE SET topic_id = excluded.topic_id, updated_at = now()",
            (topic, topic_id),
        )

    def raise_sequences(self) -> None:
        """Keep each legacy id sequence at or above the highest id written."""
        for table, top in self.written.items():
            self._conn.execute(
                "SELECT setval(seq, GREATEST(%s, COALESCE(pg_sequence_last_value(seq), 0)), true)"
                " FROM (SELECT pg_get_serial_sequence(%s, 'id')::regclass AS seq) s",
                (top, table),
            )


class LegacyStore:
    """One connection to the monolith's database, owned by the loop."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._url, autocommit=True, application_name="strangler-syncback")
        return self._conn

    def prepare(self) -> None:
        """Create the bookkeeping tables, forget applied event ids older than
        :data:`APPLIED_RETENTION` (at each start), check the written tables
        have id sequences."""
        with self.conn.transaction():
            self.conn.execute(SCHEMA)
            pruned = self.conn.execute(
                f"DELETE FROM {APPLIED_TABLE} WHERE applied_at < now() - interval '{APPLIED_RETENTION}'"
            ).rowcount
            if pruned:
                log.info("forgot %d applied event ids older than %s", pruned, APPLIED_RETENTION)
            for table in WRITTEN_TABLES:
                row = self.conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()
                if row is None or row[0] is None:
                    raise RuntimeError(f"legacy table {table} has no id sequence: is the monolith migrated?")

    def stored_offsets(self, topic: str) -> dict[int, int]:
        rows = self.conn.execute(
            f"SELECT partition, next_offset FROM {OFFSETS_TABLE} WHERE topic = %s", (topic,)
        ).fetchall()
        return {int(p): int(o) for p, o in rows}

    def stored_topic_id(self, topic: str) -> str | None:
        row = self.conn.execute(f"SELECT topic_id FROM {TOPICS_TABLE} WHERE topic = %s", (topic,)).fetchone()
        return None if row is None else str(row[0])

    @contextmanager
    def transaction(self, event_ids: list[str]) -> Iterator[SyncbackTransaction]:
        """One batch. With ``event_ids`` (events it will try to apply) the
        marker message goes first; a batch of only skipped events stores its
        offsets without one (it writes no captured row)."""
        conn = self.conn
        with conn.transaction():
            conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
            if event_ids:
                conn.execute(
                    "SELECT pg_logical_emit_message(true, %s, %s)", (SYNCBACK_MESSAGE_PREFIX, ",".join(event_ids))
                )
            tx = SyncbackTransaction(conn)
            yield tx
            tx.raise_sequences()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
