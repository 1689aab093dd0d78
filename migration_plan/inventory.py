"""The endpoint inventory: the monolith's routes, discovered from its Django
URLconf, matched against the plan and the proxy's live route table.

Discovery runs in a child process (``python -m migration_plan.urlconf_dump``
with the monolith's settings module): ``django.setup()`` is once per process
and configures global state (settings, app registry, logging) that has no
place in the CLI, the dashboard or a test process; the child also keeps the
rule that nothing in the toolkit imports ``legacy_monolith``. It costs about
a second, and needs no database.

Left out: the Django admin (namespace ``admin``: people's back office, not
an API to move) and ``/_internal/`` (namespace ``internal``: served to the
strangler's own parts). ``include_internal=True`` lists ``/_internal/`` too.

An endpoint is one (method, path) pair. HEAD follows GET (Django answers it
with the GET view), so it is shown but never reported as missing on its own.
Paths are compared by *shape*: placeholder names are erased, so the URLconf's
``/api/items/{item_id}/rate/`` is the plan's ``/api/items/{id}/rate/``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from migration_plan.plan_file import Endpoint, Plan, _shape
from strangler_proxy.routing import parse_route_key

DEFAULT_SETTINGS_MODULE = "legacy_monolith.smp.settings"
EXCLUDED_NAMESPACES = frozenset({"admin", "internal"})
DISCOVERY_TIMEOUT_S = 60.0


class DiscoveryError(RuntimeError):
    """The URLconf could not be loaded; the message has the child's error."""


@dataclass(frozen=True)
class Route:
    """One route of the monolith's URLconf."""

    path: str
    methods: tuple[str, ...]
    view: str
    namespace: str | None
    name: str | None


def discover_routes(
    settings_module: str = DEFAULT_SETTINGS_MODULE, *, include_internal: bool = False, python: str = sys.executable
) -> list[Route]:
    """Every route of the monolith's URLconf, admin excluded (see module doc)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module}
    try:
        done = subprocess.run(
            [python, "-m", "migration_plan.urlconf_dump"],
            env=env,
            capture_output=True,
            text=True,
            timeout=DISCOVERY_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise DiscoveryError(f"loading the URLconf took more than {DISCOVERY_TIMEOUT_S:.0f} s") from exc
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise DiscoveryError(f"could not load the URLconf of {settings_module}:\n{tail}")
    excluded = EXCLUDED_NAMESPACES - ({"internal"} if include_internal else set())
    routes = [
        Route(r["path"], tuple(r["methods"]), r["view"], r["namespace"], r["name"]) for r in json.loads(done.stdout)
    ]
    return [r for r in routes if r.namespace not in excluded and not r.path.startswith("/admin/")]


@dataclass(frozen=True)
class InventoryRow:
    """One (method, path) of the monolith and what the plan and proxy say of it."""

    method: str
    path: str
    view: str
    namespace: str | None
    planned: str | None  # the plan's endpoint id
    context: str | None
    service: str | None
    live_mode: str | None  # the proxy's mode for this route (None: not in the table, so legacy)
    live_route: str | None

    @property
    def missing_from_plan(self) -> bool:
        return self.planned is None and self.method != "HEAD"

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "view": self.view,
            "namespace": self.namespace,
            "planned": self.planned,
            "context": self.context,
            "service": self.service,
            "live_mode": self.live_mode or "legacy",
            "live_route": self.live_route,
            "missing_from_plan": self.missing_from_plan,
        }


@dataclass(frozen=True)
class Inventory:
    rows: tuple[InventoryRow, ...]
    #: Plan endpoints that match no route of the monolith (stale plan entries).
    unknown_in_plan: tuple[str, ...]

    @property
    def missing(self) -> list[InventoryRow]:
        return [r for r in self.rows if r.missing_from_plan]

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoints": [r.to_json() for r in self.rows],
            "missing_from_plan": [f"{r.method} {r.path}" for r in self.missing],
            "unknown_in_plan": list(self.unknown_in_plan),
            "total": len([r for r in self.rows if r.method != "HEAD"]),
            "planned": len([r for r in self.rows if r.planned and r.method != "HEAD"]),
        }


def build_inventory(routes: Iterable[Route], plan: Plan, live_routes: Iterable[Mapping[str, Any]] = ()) -> Inventory:
    """Match discovered routes with the plan and the live table (the
    ``routes`` list of ``GET /_strangler/routes``). Pure: unit-testable."""
    by_plan: dict[tuple[str, tuple[Any, ...]], Endpoint] = {}
    for e in plan.endpoints:
        for method in e.methods:
            by_plan[(method, _shape(e.path))] = e
    by_live: dict[tuple[str, tuple[Any, ...]], Mapping[str, Any]] = {}
    for r in live_routes:
        methods, path = parse_route_key(str(r["key"]))
        for method in methods:
            by_live[(method, _shape(path))] = r
    rows: list[InventoryRow] = []
    matched: set[str] = set()
    for route in sorted(routes, key=lambda r: r.path):
        shape = _shape(route.path)
        for method in route.methods:
            planned = by_plan.get((method, shape)) or (by_plan.get(("GET", shape)) if method == "HEAD" else None)
            live = by_live.get((method, shape))
            if planned is not None:
                matched.add(planned.id)
            rows.append(
                InventoryRow(
                    method=method,
                    path=route.path,
                    view=route.view,
                    namespace=route.namespace,
                    planned=planned.id if planned else None,
                    context=planned.context if planned else route.namespace,
                    service=planned.service if planned else None,
                    live_mode=str(live["mode"]) if live else None,
                    live_route=str(live["key"]) if live else None,
                )
            )
    unknown = tuple(sorted(e.id for e in plan.endpoints if e.id not in matched))
    return Inventory(tuple(rows), unknown)
