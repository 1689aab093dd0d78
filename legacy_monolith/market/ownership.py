"""Who owns the writes of a context: a selector over the control database,
and the guard the market's write endpoints run under.

The strangler proxy's route store keeps ``strangler_write_owners(context,
owner, since, route_version)`` in the control database and changes it in the
same transaction as a flip of the write routes (docs/market-write-side.md).
The monolith reads it **fresh on every write request**, so a flip takes
effect on the next write; there is no cache.

- ``STRANGLER_CONTROL_DATABASE_URL`` unset, the table missing or the row
  missing: the owner is ``legacy`` (the monolith writes, as it always has).
- The control database unreachable while configured: ``WriteOwnerUnknown``
  (503). Guessing ``legacy`` could make two writers.

:func:`writes_owned_by_legacy` reads the row ``FOR SHARE`` and keeps that
lock until the legacy write has committed: a flip (an ``UPDATE`` of the row)
waits for the legacy writes in flight, and every legacy write either commits
before the flip or sees the new owner. So when the new owner's projector has
caught up with the legacy stream after the flip, it has seen every legacy
write. (Only the very first flip, which inserts the row, cannot wait: there
is no row to lock yet; the proxy's store can close that by inserting the
``legacy`` row when it creates the table.)

**Handing back.** After a flip back to ``legacy`` the row names the service
handing the writes back (``handover_from``). The monolith takes no write
until that service has declared the end of its events (``handover_offsets``,
topic -> partition -> offset) and sync-back, whose offsets live in this
very database (``strangler_syncback_offsets``), has applied up to them: only
then are the service's last sales in ``smp_sale`` and the id sequences above
them. A write that arrives meanwhile waits for it (polling, at most
``STRANGLER_HANDOVER_WAIT_S``, default 5 s, without holding the row lock),
then gets 409 ``writes_moved`` naming the service still handing back. Once
a route version's handback is complete it stays complete (offsets only
grow), so each process checks it once.

One small psycopg connection per thread (gunicorn ``gthread`` workers),
opened on first use, reconnected once when it broke; its transaction is
only ever open for the length of one write request
(``idle_in_transaction_session_timeout`` caps a stuck one).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection as legacy_db
from psycopg import errors

from legacy_monolith.smp.exceptions import WriteOwnerUnknown, WritesMoved

LEGACY = "legacy"
MARKET = "market"  # the context of listings and sales

_OWNER_SQL = (
    "SELECT owner, since, route_version, handover_from, handover_offsets FROM strangler_write_owners WHERE context = %s"
)
_SYNCBACK_TABLE = "strangler_syncback_offsets"  # acl/syncback/store.py creates it on its first start
_HANDBACK_POLL_S = 0.05
_CONNECT_OPTIONS = "-c statement_timeout=3000 -c idle_in_transaction_session_timeout=30000"
_local = threading.local()


@dataclass(frozen=True)
class WriteOwner:
    """The writer of ``context`` now; ``since``/``route_version`` are None
    when no row says so (the monolith by default)."""

    context: str
    owner: str
    since: dt.datetime | None = None
    route_version: int | None = None
    #: the service handing the writes back to legacy (see the module docstring)
    handover_from: str | None = None
    handover_offsets: dict[str, dict[str, int]] | None = None
    #: whether that handback is complete (read with the row: :func:`_handback_complete`)
    handback_done: bool = True

    @property
    def is_legacy(self) -> bool:
        """The monolith may write: it owns the writes and no service is
        still handing them back."""
        return self.owner == LEGACY and self.handback_done

    @property
    def holder(self) -> str:
        """Who has the writes now: the owner, or the service handing back."""
        return self.handover_from if self.owner == LEGACY and self.handover_from else self.owner

    @property
    def since_iso(self) -> str | None:
        """``since`` in UTC, ISO 8601 with offset (the 409 body's form)."""
        return self.since.astimezone(dt.UTC).isoformat() if self.since else None

    def notice(self) -> str:
        """The human sentence of the 409 body and of the admin notice."""
        if self.holder != self.owner:
            return (
                f"Writes to {self.context} are being handed back from the {self.holder} service to legacy"
                f" since {self.since_iso}; retry shortly."
            )
        return f"Writes to {self.context} are owned by the {self.owner} service since {self.since_iso}."


#: (context, route version, since) of each handback this process saw complete
_complete_handbacks: set[tuple[str, int | None, dt.datetime | None]] = set()


def _handback_complete(owner: WriteOwner) -> bool:
    """The handing-back service declared its end and sync-back reached it."""
    if owner.handover_offsets is None:
        return False
    key = (owner.context, owner.route_version, owner.since)
    if key in _complete_handbacks:
        return True
    applied: dict[tuple[str, int], int] = {}
    with legacy_db.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [_SYNCBACK_TABLE])
        if cursor.fetchone()[0]:  # no table: sync-back never ran, every partition is at 0
            cursor.execute(f"SELECT topic, partition, next_offset FROM {_SYNCBACK_TABLE}")
            applied = {(topic, int(partition)): int(offset) for topic, partition, offset in cursor.fetchall()}
    done = all(
        applied.get((topic, int(partition)), 0) >= int(end)
        for topic, ends in owner.handover_offsets.items()
        for partition, end in ends.items()
    )
    if done:
        _complete_handbacks.add(key)
    return done


def _connection(url: str) -> psycopg.Connection:
    cached: tuple[str, psycopg.Connection] | None = getattr(_local, "control", None)
    if cached is not None and cached[0] == url and not cached[1].closed:
        return cached[1]
    if cached is not None:
        cached[1].close()
    conn = psycopg.connect(url, connect_timeout=3, options=_CONNECT_OPTIONS)
    _local.control = (url, conn)
    return conn


def _forget_connection() -> None:
    cached = getattr(_local, "control", None)
    _local.control = None
    if cached is not None:
        cached[1].close()


def _end_transaction(conn: psycopg.Connection) -> None:
    """End the read (and release its lock); a broken connection is dropped
    (its session, and so its lock, is gone anyway)."""
    try:
        conn.rollback()
    except psycopg.Error:
        _forget_connection()


def _read_owner(*, url: str, context: str, lock: bool) -> tuple[psycopg.Connection, WriteOwner]:
    """The owner row, read in a transaction left open on the returned
    connection (``FOR SHARE`` when ``lock``); the caller ends it."""
    statement = _OWNER_SQL + (" FOR SHARE" if lock else "")
    for attempt in (1, 2):
        try:
            conn = _connection(url)
            try:
                row: Any = conn.execute(statement, (context,)).fetchone()
            except errors.UndefinedTable:
                conn.rollback()  # the route store has not created it: nobody moved anything
                row = None
        except psycopg.OperationalError as exc:
            _forget_connection()  # a restarted server or a dropped idle connection: one fresh try
            if attempt == 2:
                raise WriteOwnerUnknown(
                    f"The owner of {context} writes cannot be read from the control database; refusing the write.",
                    extra={"context": context},
                ) from exc
            continue
        if row is None:
            return conn, WriteOwner(context=context, owner=LEGACY)
        owner, since, route_version, handover_from, handover_offsets = row
        found = WriteOwner(context, owner, since, route_version, handover_from, handover_offsets)
        if found.handover_from is not None:
            found = dataclasses.replace(found, handback_done=_handback_complete(found))
        return conn, found
    raise AssertionError("unreachable")


def write_owner_get(*, context: str) -> WriteOwner:
    """The current writer of ``context`` (see the module docstring)."""
    url = settings.STRANGLER_CONTROL_DATABASE_URL
    if not url:
        return WriteOwner(context=context, owner=LEGACY)
    conn, owner = _read_owner(url=url, context=context, lock=False)
    _end_transaction(conn)
    return owner


@contextmanager
def writes_owned_by_legacy(*, context: str) -> Iterator[WriteOwner]:
    """Run a legacy write of ``context`` only while the monolith owns it:
    refuse with 409 ``writes_moved`` otherwise, and hold the owner row's
    share lock until the block (and the write's own transaction in it) has
    ended, so a flip waits for it. Wrap the whole body of a write endpoint."""
    url = settings.STRANGLER_CONTROL_DATABASE_URL
    if not url:
        yield WriteOwner(context=context, owner=LEGACY)
        return
    deadline = time.monotonic() + settings.STRANGLER_HANDOVER_WAIT_S
    while True:
        conn, owner = _read_owner(url=url, context=context, lock=True)
        if owner.is_legacy:
            break
        _end_transaction(conn)  # never wait holding the lock: the flip it waits for may need it
        if owner.owner != LEGACY or time.monotonic() >= deadline:
            raise WritesMoved(
                owner.notice(),
                extra={"context": context, "owner": owner.holder, "since": owner.since_iso},
            )
        time.sleep(_HANDBACK_POLL_S)  # the handback is seconds away: poll it, bounded by the deadline
    try:
        yield owner
    finally:
        _end_transaction(conn)
