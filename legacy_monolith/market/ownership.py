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

One small psycopg connection per thread (gunicorn ``gthread`` workers),
opened on first use, reconnected once when it broke; its transaction is
only ever open for the length of one write request
(``idle_in_transaction_session_timeout`` caps a stuck one).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from django.conf import settings
from psycopg import errors

from legacy_monolith.smp.exceptions import WriteOwnerUnknown, WritesMoved

LEGACY = "legacy"
MARKET = "market"  # the context of listings and sales

_OWNER_SQL = "SELECT owner, since, route_version FROM strangler_write_owners WHERE context = %s"
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

    @property
    def is_legacy(self) -> bool:
        return self.owner == LEGACY

    @property
    def since_iso(self) -> str | None:
        """``since`` in UTC, ISO 8601 with offset (the 409 body's form)."""
        return self.since.astimezone(dt.UTC).isoformat() if self.since else None

    def notice(self) -> str:
        """The human sentence of the 409 body and of the admin notice."""
        return f"Writes to {self.context} are owned by the {self.owner} service since {self.since_iso}."


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
        owner, since, route_version = row
        return conn, WriteOwner(context=context, owner=owner, since=since, route_version=route_version)
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
    conn, owner = _read_owner(url=url, context=context, lock=True)
    try:
        if not owner.is_legacy:
            raise WritesMoved(
                owner.notice(),
                extra={"context": context, "owner": owner.owner, "since": owner.since_iso},
            )
        yield owner
    finally:
        _end_transaction(conn)
