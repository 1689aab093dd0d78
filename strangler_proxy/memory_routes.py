"""The route repository port kept in memory: the fake the proxy's and the
CLI's unit tests run the real admin API and route commands over (as httpx
ships ``MockTransport``). Not used by the running proxy."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from strangler_proxy.route_repository import (
    MismatchLog,
    Mutation,
    RouteRepository,
    Unchanged,
    Version,
    WriteOwner,
    owner_changes,
)


class InMemoryRouteRepository(RouteRepository, MismatchLog):
    """Versions in a list, with the same contract as ``RouteStore``: one
    writer at a time, ``Unchanged`` for a no-op, version 1 is the empty
    initial table. ``down`` makes every call fail as a lost database does."""

    def __init__(self) -> None:
        self.versions = [
            Version(
                1,
                {"routes": []},
                "strangler-proxy",
                "initial table: everything to legacy",
                "init",
                None,
                datetime(2026, 1, 1, tzinfo=UTC),
            )
        ]
        self.recorded: list[Any] = []
        self.write_owners: dict[str, WriteOwner] = {}
        self.down = False
        self._lock = asyncio.Lock()

    def _check(self) -> None:
        if self.down:
            raise OSError("connection refused")

    async def latest(self) -> Version:
        self._check()
        return self.versions[-1]

    async def get(self, version: int) -> Version | None:
        self._check()
        return next((v for v in self.versions if v.version == version), None)

    async def history(self, limit: int = 20) -> list[Version]:
        self._check()
        return list(reversed(self.versions))[:limit]

    async def change(self, mutate: Mutation, *, actor: str, reason: str, kind: str) -> tuple[Version, Version]:
        self._check()
        async with self._lock:
            old = self.versions[-1]
            spec, restored = await mutate(old, self.get)
            if json.dumps(spec, sort_keys=True) == json.dumps(old.spec, sort_keys=True):
                raise Unchanged(f"version {old.version} already is that table")
            new = Version(old.version + 1, spec, actor, reason, kind, restored, datetime.now(UTC))
            changes = owner_changes(self.write_owners, new)  # computed before anything is stored: all or nothing
            self.versions.append(new)
            self.write_owners.update((o.context, o) for o in changes)
            return old, new

    async def owners(self) -> list[WriteOwner]:
        self._check()
        return [self.write_owners[c] for c in sorted(self.write_owners)]

    async def record_mismatch(self, m: Any) -> None:
        self.recorded.append(m)

    async def mismatches(self, route: str | None, limit: int = 20) -> list[dict[str, Any]]:
        self._check()
        rows = [{"route": m.route, "target": m.target} for m in reversed(self.recorded)]
        return [r for r in rows if route is None or r["route"] == route][:limit]

    async def mismatch_counts(self) -> dict[str, int]:
        self._check()
        counts: dict[str, int] = {}
        for m in self.recorded:
            counts[m.route] = counts.get(m.route, 0) + 1
        return counts
