"""Who owns the writes of a context: a selector over the control database.

The strangler proxy's route store keeps ``strangler_write_owners(context,
owner, since, route_version)`` in the control database and changes it in the
same transaction as a flip of the write routes (docs/market-write-side.md).
The monolith reads it **fresh on every write request**, so a flip takes
effect on the next write; there is no cache.

- ``STRANGLER_CONTROL_DATABASE_URL`` unset, the table missing or the row
  missing: the owner is ``legacy`` (the monolith writes, as it always has).
- The control database unreachable while configured: ``WriteOwnerUnknown``
  (503). Guessing ``legacy`` could make two writers.

One small psycopg connection per thread (gunicorn ``gthread`` workers),
opened on first use, autocommit, reconnected once when it broke: one
primary-key lookup per write request.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

import psycopg
from django.conf import settings
from psycopg import errors

from legacy_monolith.smp.exceptions import WriteOwnerUnknown, WritesMoved

LEGACY = "legacy"
MARKET = "market"  # the context of listings and sales

_OWNER_SQL = "SELECT owner, since, route_version FROM strangler_write_owners WHERE context = %s"
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
    conn = psycopg.connect(url, autocommit=True, connect_timeout=3, options="-c statement_timeout=3000")
    _local.control = (url, conn)
    return conn


def _forget_connection() -> None:
    cached = getattr(_local, "control", None)
    _local.control = None
    if cached is not None:
        cached[1].close()


def _query_owner(*, url: str, context: str) -> tuple[str, dt.datetime, int] | None:
    try:
        return _connection(url).execute(_OWNER_SQL, (context,)).fetchone()
    except errors.UndefinedTable:
        return None  # the proxy's route store has not created it: nobody moved anything


def write_owner_get(*, context: str) -> WriteOwner:
    """The current writer of ``context`` (see the module docstring)."""
    url = settings.STRANGLER_CONTROL_DATABASE_URL
    if not url:
        return WriteOwner(context=context, owner=LEGACY)
    row = None
    for attempt in (1, 2):
        try:
            row = _query_owner(url=url, context=context)
            break
        except psycopg.OperationalError as exc:
            _forget_connection()  # a restarted server or a dropped idle connection: one fresh try
            if attempt == 2:
                raise WriteOwnerUnknown(
                    f"The owner of {context} writes cannot be read from the control database; refusing the write.",
                    extra={"context": context},
                ) from exc
    if row is None:
        return WriteOwner(context=context, owner=LEGACY)
    owner, since, route_version = row
    return WriteOwner(context=context, owner=owner, since=since, route_version=route_version)


def writes_require_legacy(*, context: str) -> None:
    """Refuse a legacy write of ``context`` (409 ``writes_moved``) while
    another service owns it. Call first thing in every write endpoint."""
    owner = write_owner_get(context=context)
    if not owner.is_legacy:
        raise WritesMoved(
            owner.notice(),
            extra={"context": context, "owner": owner.owner, "since": owner.since_iso},
        )
