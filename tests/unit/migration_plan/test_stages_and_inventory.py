"""Where an endpoint stands (from its live route) and what a step writes;
the inventory's matching of URLconf routes with the plan and the live table."""

from __future__ import annotations

from pathlib import Path

from migration_plan.engine import _route_entry, live_route, stage_index, stage_name
from migration_plan.inventory import Route, build_inventory
from migration_plan.plan_file import load_plan

PLAN = load_plan(Path(__file__).resolve().parents[3] / "migration-plan.yaml")
RATE = PLAN.endpoint("pricing.rate")


def live(mode: str, **extra: object) -> dict[str, object]:
    return {
        "key": "GET /api/items/{id}/rate/",
        "methods": ["GET"],
        "path": "/api/items/{id}/rate/",
        "mode": mode,
        "service": "pricing",
        "fallback": True,
        **extra,
    }


def test_the_stage_comes_from_the_live_route() -> None:
    assert stage_index(RATE, None) == -1
    assert stage_index(RATE, live("legacy")) == -1
    assert stage_index(RATE, live("shadow")) == 0
    assert stage_index(RATE, live("canary", weight=50)) == 2
    assert stage_index(RATE, live("new")) == 3
    assert stage_index(RATE, live("new", fallback=False)) == 4  # retired: new without legacy to fall back on
    assert stage_index(RATE, live("canary", weight=10)) is None
    assert stage_name(RATE, None, live("canary", weight=10)) == "off-plan (canary 10%)"


def test_a_live_route_is_found_by_shape_and_shared_methods() -> None:
    other_name = {**live("shadow"), "key": "GET,HEAD /api/items/{item}/rate/"}
    assert live_route(RATE, [other_name]) is other_name
    assert live_route(RATE, [{**live("shadow"), "key": "POST /api/items/{id}/rate/"}]) is None


def test_a_step_writes_the_stage_mode_and_the_plan_options() -> None:
    canary = _route_entry(RATE, RATE.stages[1], live("shadow"))
    assert canary["mode"] == "canary" and canary["weight"] == 5 and canary["ignore"] == ["$.as_of"]
    retired = _route_entry(RATE, RATE.stages[4], live("new"))
    assert retired["mode"] == "new" and retired["fallback"] is False and "weight" not in retired
    back = _route_entry(RATE, None, live("canary", weight=5))
    assert back["mode"] == "legacy" and "weight" not in back
    buy = PLAN.endpoint("market.buy")
    assert _route_entry(buy, buy.stages[0], None) | {} == {
        "methods": ["POST"],
        "path": "/api/sales/",
        "mode": "new",
        "service": "market",
        "writes": "market",
        "fallback": True,
    }


def test_the_inventory_flags_what_the_plan_lacks_and_what_it_names_in_vain() -> None:
    routes = [
        Route("/api/items/{item_id}/rate/", ("GET", "HEAD"), "m.ItemRateApi", "market", "item-rate"),
        Route("/api/reports/", ("GET", "HEAD", "POST"), "m.ReportApi", "reports", "reports"),
    ]
    inv = build_inventory(routes, PLAN, [live("shadow")])
    rate = [r for r in inv.rows if r.path == "/api/items/{item_id}/rate/"]
    assert [(r.method, r.planned, r.live_mode) for r in rate] == [
        ("GET", "pricing.rate", "shadow"),
        ("HEAD", "pricing.rate", None),
    ]
    assert [f"{r.method} {r.path}" for r in inv.missing] == ["GET /api/reports/", "POST /api/reports/"]
    assert "pricing.history" in inv.unknown_in_plan and "pricing.rate" not in inv.unknown_in_plan
    data = inv.to_json()
    assert data["total"] == 3 and data["planned"] == 1
