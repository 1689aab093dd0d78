"""The route repository port: versioned route tables and shadow mismatches.

``store.RouteStore`` implements it on PostgreSQL (versions, audit, NOTIFY);
unit tests use an in-memory fake. The route commands and the admin API
depend on these Protocols only, never on psycopg.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from strangler_proxy.routing import write_owners


class Unchanged(Exception):
    """The requested change would produce the table that is already live."""


class VersionConflict(Exception):
    """The change was computed from a version that is no longer live (someone
    else changed the table since): applying it would undo their change."""

    def __init__(self, expected: int, live: int) -> None:
        super().__init__(
            f"the live table is version {live}, not {expected}: it changed since it was read; the live table is unchanged"
        )
        self.expected, self.live = expected, live


@dataclass(frozen=True)
class Version:
    """One stored table: the whole spec plus its audit record."""

    version: int
    spec: dict[str, Any]
    actor: str
    reason: str
    kind: str
    restored_from: int | None
    created_at: datetime

    def to_json(self, with_spec: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "actor": self.actor,
            "reason": self.reason,
            "kind": self.kind,
            "restored_from": self.restored_from,
            "created_at": self.created_at.isoformat(),
            "routes": len(self.spec.get("routes", [])),
        }
        if with_spec:
            out["spec"] = self.spec
        return out


@dataclass(frozen=True)
class WriteOwner:
    """A row of ``strangler_write_owners``: who writes a context's data
    (``legacy`` or a service), since when, set by which route version. No
    row means ``legacy``.

    ``handover_from`` is the service that owned the writes before a flip
    back to ``legacy``: the monolith takes no write of the context until that
    service has declared its last event's position (``handover_offsets``,
    written by the service) and sync-back has applied up to it
    (docs/market-write-side.md, "Handing the writes back")."""

    context: str
    owner: str
    since: datetime
    route_version: int
    handover_from: str | None = None
    handover_offsets: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "context": self.context,
            "owner": self.owner,
            "since": self.since.isoformat(),
            "route_version": self.route_version,
            "handover_from": self.handover_from,
            "handover_offsets": self.handover_offsets,
        }


def owner_changes(current: Mapping[str, WriteOwner], new: Version) -> list[WriteOwner]:
    """The owner rows to write with version ``new``: a context whose owner
    differs from its row (or has no row) gets ``new``'s number and time; a
    context with a row but no write routes any more goes back to ``legacy``
    (the proxy sends its writes there). Unchanged owners keep their ``since``.
    A service handing the writes back to ``legacy`` is named in
    ``handover_from``; a flip to a service clears it."""
    wanted = write_owners(new.spec)
    for context in current:
        wanted.setdefault(context, "legacy")
    return [
        WriteOwner(context, owner, new.created_at, new.version, _handover_from(current.get(context), owner))
        for context, owner in sorted(wanted.items())
        if context not in current or current[context].owner != owner
    ]


def _handover_from(previous: WriteOwner | None, owner: str) -> str | None:
    """Who hands the writes back when ``owner`` becomes the new owner: the
    service that had them (or was still handing them back) when the new
    owner is ``legacy``; nobody when a service takes them."""
    if owner != "legacy" or previous is None:
        return None
    return previous.owner if previous.owner != "legacy" else previous.handover_from


GetVersion = Callable[[int], Awaitable[Version | None]]
# (latest, get) -> (new spec, version it restores or None); raise to refuse.
Mutation = Callable[[Version, GetVersion], Awaitable[tuple[dict[str, Any], int | None]]]


class RouteRepository(Protocol):
    """Versioned route tables. Versions only ever get added; the rows are
    the audit log."""

    async def latest(self) -> Version: ...

    async def get(self, version: int) -> Version | None: ...

    async def history(self, limit: int = 20) -> list[Version]: ...

    async def change(self, mutate: Mutation, *, actor: str, reason: str, kind: str) -> tuple[Version, Version]:
        """Atomic read-modify-write: ``mutate(latest, get)`` computes the new
        spec while no other writer can add a version. Returns (old, new);
        raises ``Unchanged`` when the spec equals the latest one. Every
        listening proxy learns of the new version. The write owners
        (``owner_changes``) are written in the same transaction."""
        ...

    async def owners(self) -> list[WriteOwner]:
        """Every ``strangler_write_owners`` row, by context."""
        ...


class MismatchLog(Protocol):
    """Shadow comparisons that found differences, for review."""

    async def record_mismatch(self, m: Any) -> None: ...

    async def mismatches(self, route: str | None, limit: int = 20) -> list[dict[str, Any]]: ...

    async def mismatch_counts(self) -> dict[str, int]: ...
