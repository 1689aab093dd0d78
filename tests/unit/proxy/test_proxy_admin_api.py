"""The admin API as a thin adapter: auth, JSON in/out, commands, and the
mapping of command errors to statuses, over an in-memory repository."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from proxy_fakes import FakeRouteRepository

from strangler_proxy.admin import AdminApi
from strangler_proxy.route_commands import RouteCommands
from strangler_proxy.route_repository import Version

TOKEN = "t0ken-for-tests"
ROUTE = "GET /api/items/{id}/rate/"


class Rig:
    def __init__(self) -> None:
        self.repo = FakeRouteRepository()
        self.live = 1

        async def apply(v: Version) -> None:
            self.live = v.version

        self.api = AdminApi(
            token=TOKEN,
            commands=RouteCommands(self.repo, ["pricing"], apply),
            routes=self.repo,
            mismatches=self.repo,
            live_version=lambda: self.live,
            metrics_text=lambda: "strangler_x 1\n",
            status=lambda: {"inflight": 0},
        )

    def call(
        self, method: str, path: str, payload: Any = None, token: str | None = TOKEN, actor: str | None = "ann@host"
    ) -> tuple[int, Any]:
        headers = []
        if token is not None:
            headers.append((b"Authorization", b"Bearer " + token.encode()))
        if actor is not None:
            headers.append((b"X-Strangler-Actor", actor.encode()))
        body = json.dumps(payload).encode() if payload is not None else b""
        status, out, ctype = asyncio.run(self.api.handle(method, ("/_strangler" + path).encode(), headers, body))
        return status, json.loads(out) if ctype == b"application/json" else out.decode()


def test_health_and_metrics_are_open_everything_else_needs_the_token() -> None:
    rig = Rig()
    assert rig.call("GET", "/health", token=None)[1]["status"] == "ok"
    assert rig.call("GET", "/metrics", token=None) == (200, "strangler_x 1\n")
    assert rig.call("GET", "/routes", token=None) == (401, {"error": "missing bearer token"})
    assert rig.call("GET", "/routes", token="nope") == (403, {"error": "wrong token"})
    assert rig.call("GET", "/status")[1] == {"inflight": 0}


def test_set_goes_through_the_commands_and_is_audited() -> None:
    rig = Rig()
    status, out = rig.call("POST", "/routes/set", {"route": ROUTE, "mode": "new", "service": "pricing", "reason": "go"})
    assert status == 200 and (out["version"], out["previous"]) == (2, 1) and rig.live == 2
    status, out = rig.call("GET", "/routes")
    assert out["routes"][0]["mode"] == "new" and out["routes"][0]["key"] == ROUTE and out["live_version"] == 2
    rig.call("POST", "/routes/set", {"route": ROUTE, "mode": "legacy"}, actor=None)
    [latest, previous, _] = rig.call("GET", "/routes/history")[1]["versions"]
    assert (latest["actor"], latest["reason"]) == ("admin-api", f"set {ROUTE} to legacy")
    assert (previous["actor"], previous["reason"], previous["kind"]) == ("ann@host", "go", "set")


def test_command_errors_map_to_statuses() -> None:
    rig = Rig()
    assert rig.call("POST", "/routes/set", {"route": ROUTE, "mode": "sideways"})[0] == 400
    status, out = rig.call("POST", "/routes/set", {"route": ROUTE, "mode": "canary", "weight": 101})
    assert status == 422 and "weight" in out["problems"][0]
    assert rig.call("POST", "/routes/rollback", {"to": 99})[0] == 404
    rig.call("POST", "/routes/set", {"route": ROUTE, "mode": "shadow"})
    status, out = rig.call("POST", "/routes/set", {"route": ROUTE, "mode": "shadow"})
    assert status == 409 and "already is that table" in out["error"]
    assert rig.call("PUT", "/routes", {"table": {"routes": []}, "reason": ""})[0] == 400
    assert rig.call("POST", "/routes/set", [1])[0] == 400
    assert rig.call("GET", "/nothing")[0] == 404
    rig.repo.down = True
    status, out = rig.call("POST", "/routes/set", {"route": ROUTE, "mode": "new"})
    assert status == 503 and "live table is unchanged" in out["error"]
    assert len(rig.repo.versions) == 2


def test_apply_dry_run_changes_nothing() -> None:
    rig = Rig()
    table = {"routes": [{"methods": ["GET"], "path": "/x/", "mode": "new", "service": "pricing"}]}
    status, out = rig.call("PUT", "/routes", {"table": table, "dry_run": True})
    assert status == 200 and out["dry_run"] and out["changes"][0]["change"] == "added"
    assert len(rig.repo.versions) == 1
    status, out = rig.call("PUT", "/routes", {"table": table, "reason": "apply"})
    assert status == 200 and out["version"] == 2 and rig.repo.versions[-1].kind == "apply"
