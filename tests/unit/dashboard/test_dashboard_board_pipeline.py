"""The routes-only board (its ladder, advisory gates, steps through a fake
admin API) and the pipeline's pure figures."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from strangler_dashboard.admin_client import AdminClient
from strangler_dashboard.board import RoutesBoard, StepRefused, advisory_gates, stage_label, step_target
from strangler_dashboard.pipeline import group_lag, table_lags

RATE = "GET,HEAD /api/items/{id}/rate/"


@pytest.mark.parametrize(
    ("mode", "weight", "up", "down", "label"),
    [
        ("legacy", None, "shadow", None, "legacy"),
        ("shadow", None, "canary-5", "legacy", "shadow"),
        ("canary", 5, "canary-50", "shadow", "canary-5"),
        ("canary", 20, "canary-50", "canary-5", "canary-20"),
        ("canary", 50, "new", "canary-5", "canary-50"),
        ("new", None, None, "canary-50", "new"),
        ("retired", None, None, "new", "retired"),
    ],
)
def test_ladder(mode: str, weight: int | None, up: str | None, down: str | None, label: str) -> None:
    assert (step_target(mode, weight, 1) or _none()).name == up
    assert (step_target(mode, weight, -1) or _none()).name == down
    assert stage_label(mode, weight) == label


class _none:
    name = None


def test_advisory_gates_fail_when_not_measured_and_pass_on_good_figures() -> None:
    (gate,) = advisory_gates("shadow", None, "pricing")
    assert gate["gate"] == "max_mismatch_rate" and gate["passed"] is False and gate["detail"]
    good = {"upstreams": {"pricing": {"error_rate": 0.0, "p99_ms": 6.0}, "legacy": {"p99_ms": 5.0}}}
    gates = advisory_gates("canary", good, "pricing")
    assert [(g["gate"], g["passed"]) for g in gates] == [("max_error_rate", True), ("max_p99_ratio", True)]
    slow = {"upstreams": {"pricing": {"error_rate": 0.0, "p99_ms": 20.0}, "legacy": {"p99_ms": 5.0}}}
    assert advisory_gates("new", slow, "pricing")[1] == {
        "gate": "max_p99_ratio",
        "figure": 4.0,
        "threshold": 1.5,
        "passed": False,
        "detail": "",
    }
    assert advisory_gates("legacy", good, "pricing") == []


class FakeAdmin:
    """The admin API's two routes the board uses, over httpx's MockTransport."""

    def __init__(self, routes: list[dict[str, Any]]) -> None:
        self.routes = routes
        self.version = 7
        self.posts: list[tuple[str, dict[str, Any], str | None]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer t0ken"
        if request.method == "GET" and request.url.path == "/_strangler/routes":
            return httpx.Response(
                200, json={"version": self.version, "live_version": self.version, "routes": self.routes}
            )
        if request.method == "POST" and request.url.path == "/_strangler/routes/set":
            body = json.loads(request.content)
            self.posts.append((request.url.path, body, request.headers.get("x-strangler-actor")))
            self.version += 1
            return httpx.Response(200, json={"version": self.version, "previous": self.version - 1})
        return httpx.Response(404, json={"error": "no"})

    def client(self) -> AdminClient:
        return AdminClient("http://admin", "t0ken", transport=httpx.MockTransport(self.handler))


def test_routes_board_groups_by_context_and_steps_one_rung() -> None:
    fake = FakeAdmin(
        [
            {"key": RATE, "mode": "shadow", "service": "pricing"},
            {"key": "POST /api/listings/", "mode": "legacy", "service": "market", "writes": "market"},
            {"key": "GET /api/players/", "mode": "legacy"},
        ]
    )

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        board = RoutesBoard(fake.client())
        shown = await board.board({RATE: {"mismatch_rate": 0.0}})
        up = await board.advance(RATE, reason="looks right", actor="ann@dashboard", force=False)
        down = await board.rollback(RATE, reason="oops", actor="ann@dashboard")
        with pytest.raises(StepRefused, match="reason"):
            await board.advance(RATE, reason=" ", actor="ann@dashboard", force=False)
        with pytest.raises(StepRefused, match="no new service"):
            await board.advance("GET /api/players/", reason="x", actor="ann@dashboard", force=False)
        with pytest.raises(StepRefused, match="first stage"):
            await board.rollback("GET /api/players/", reason="x", actor="ann@dashboard")
        return shown, up, down

    shown, up, down = asyncio.run(scenario())
    assert [c["name"] for c in shown["contexts"]] == ["market", "monolith only", "pricing"]
    rate = shown["contexts"][2]["endpoints"][0]
    assert (rate["stage"], rate["next_stage"], rate["previous_stage"], rate["gates_passed"]) == (
        "shadow",
        "canary-5",
        "legacy",
        True,
    )
    assert shown["route_version"] == 7 and shown["progress"]["endpoints"] == 3
    assert up["to_stage"] == "canary-5" and down["to_stage"] == "legacy"
    (_, first, actor), (_, second, _) = fake.posts
    assert first["mode"] == "canary" and first["weight"] == 5 and first["service"] == "pricing"
    assert first["reason"].startswith(f"dashboard advance {RATE} shadow -> canary-5: looks right")
    assert actor == "ann@dashboard"
    assert second["mode"] == "legacy"  # the fake's table did not change: one rung down from shadow


def test_table_lags_from_the_relay_status() -> None:
    now = 1_000_000.0
    status = {
        "relay": {"state": "running", "updated_at_ms": now - 500, "events_relayed": 12},
        "tables": {
            "smp_sale": {
                "topic": "t",
                "snapshot": "streaming",
                "events": 10,
                "last_source_ts_ms": now - 3000,
                "last_relayed_at_ms": now - 2950,
            },
            "smp_item": {
                "topic": "u",
                "snapshot": "pending",
                "events": 0,
                "last_source_ts_ms": None,
                "last_relayed_at_ms": None,
            },
        },
    }
    lags = table_lags(status, now)
    assert not lags["stale"] and lags["events_relayed"] == 12
    by_table = {t["table"]: t for t in lags["tables"]}
    assert by_table["smp_sale"]["lag_s"] == 0.05 and by_table["smp_sale"]["last_change_age_s"] == 3.0
    assert by_table["smp_item"]["lag_s"] is None
    status["relay"]["updated_at_ms"] = now - 30_000  # the relay stopped reporting 30 s ago
    stale = table_lags(status, now)
    assert stale["stale"] and {t["table"]: t["lag_s"] for t in stale["tables"]}["smp_sale"] == 30.05
    assert "error" in table_lags(None, now)


def test_group_lag_sums_partitions_and_counts_uncommitted_ones_whole() -> None:
    end = {("smp.market.v1", 0): 10, ("smp.market.v1", 1): 5, ("legacy.public.smp_sale", 0): 7}
    committed = {("smp.market.v1", 0): 8, ("legacy.public.smp_sale", 0): 7}
    assert group_lag(committed, end) == {"lag": 7, "topics": {"legacy.public.smp_sale": 0, "smp.market.v1": 7}}
