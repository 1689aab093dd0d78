"""The plan's board shape, its error mapping, and how ``strangler dashboard
serve`` finds a local stack's settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from migration_plan import engine
from migration_plan.gates import GateResult
from strangler_cli.dashboard import from_state
from strangler_dashboard.admin_client import AdminError
from strangler_dashboard.board import StepRefused
from strangler_dashboard.plan_board import PlanBoard, board_from_status
from strangler_dashboard.settings import DashboardSettings, SettingsError


def _endpoint(ident: str, stage: str, index: int | None, stages: list[str]) -> dict[str, Any]:
    return {"id": ident, "route": ident, "stage": stage, "stage_index": index, "stages": stages, "gates": []}


def test_board_from_status_adds_previous_stages_and_columns_in_plan_order() -> None:
    reads = ["shadow", "canary-5", "new"]
    status = {
        "route_version": 9,
        "contexts": [
            {
                "name": "pricing",
                "endpoints": [
                    _endpoint("pricing.rate", "canary-5", 1, reads),
                    _endpoint("pricing.history", "shadow", 0, reads),
                    _endpoint("pricing.odd", "off-plan (canary 7%)", None, reads),
                    _endpoint("pricing.start", "legacy", -1, reads),
                ],
            },
            {"name": "market", "endpoints": [_endpoint("market.buy", "legacy", -1, ["new"])]},
        ],
        "progress": {"migrated": 0, "planned": 5},
    }
    board = board_from_status(status, "plan")
    assert board["stages"] == ["legacy", "shadow", "canary-5", "new"]
    previous = {e["id"]: e["previous_stage"] for c in board["contexts"] for e in c["endpoints"]}
    assert previous == {
        "pricing.rate": "shadow",
        "pricing.history": "legacy",
        "pricing.odd": "a plan stage",
        "pricing.start": None,
        "market.buy": None,
    }
    assert board["route_version"] == 9 and board["progress"]["planned"] == 5


def _settings(**given: Any) -> DashboardSettings:
    return DashboardSettings.from_env({}, admin_token="t", proxy_admin_url="http://admin", **given)


def test_plan_board_needs_the_control_database() -> None:
    with pytest.raises(SettingsError, match="STRANGLER_CONTROL_DATABASE_URL"):
        PlanBoard(_settings(plan_file=Path("migration-plan.yaml")))


def test_plan_board_maps_the_engines_refusals() -> None:
    gate = GateResult("max_mismatch_rate", 0.2, 0.001, False, "")

    def refused() -> None:
        raise engine.PlanRefused("pricing.rate: gates failed", [gate])

    with pytest.raises(StepRefused) as caught:
        PlanBoard._call(refused)
    assert caught.value.gates == [gate.to_json()]

    def proxy_down() -> None:
        raise engine.AdminError(503, "control database unavailable")

    with pytest.raises(AdminError) as down:
        PlanBoard._call(proxy_down)
    assert down.value.status == 503

    def unknown() -> None:
        raise KeyError("no endpoint 'x.y' in the plan")

    with pytest.raises(StepRefused, match="no endpoint"):
        PlanBoard._call(unknown)


def test_settings_from_a_state_dir_unless_the_environment_says_otherwise(tmp_path: Path) -> None:
    endpoints = {
        "proxy": "http://127.0.0.1:8000",
        "proxy_admin": "http://127.0.0.1:9901",
        "kafka": "127.0.0.1:19092",
        "services": {"pricing": "http://127.0.0.1:8010"},
        "databases": {"legacy": "postgresql://l/smp", "control": "postgresql://c/ctl", "pricing": "postgresql://p/pr"},
    }
    (tmp_path / "endpoints.json").write_text(json.dumps(endpoints))
    (tmp_path / "dashboard-password").write_text("pw\n")
    (tmp_path / "cdc").mkdir()
    found = from_state(tmp_path, {})
    assert found["proxy_admin_url"] == "http://127.0.0.1:9901"  # the admin listener, not the public port
    assert found["password"] == "pw" and found["cdc_state_dir"] == tmp_path / "cdc"
    assert found["service_database_urls"] == {"pricing": "postgresql://p/pr"}
    environ = {"STRANGLER_PROXY_URL": "http://lb:8002", "STRANGLER_PRICING_DATABASE_URL": "postgresql://x/y"}
    overridden = from_state(tmp_path, environ)
    assert "proxy_admin_url" not in overridden and "service_database_urls" not in overridden
    del endpoints["proxy_admin"]
    (tmp_path / "endpoints.json").write_text(json.dumps(endpoints))
    assert from_state(tmp_path, {})["proxy_admin_url"] == "http://127.0.0.1:8000"  # a stack from before the listener
    assert from_state(tmp_path / "none", {}) == {}


def test_settings_render_back_for_a_child() -> None:
    settings = _settings(service_database_urls={"pricing": "postgresql://p/pr"}, port=9999)
    again = DashboardSettings.from_env(settings.render_env())
    assert again == settings
    assert again.admin_url == "http://admin"
    assert "'t'" not in repr(settings)  # secrets masked
    with pytest.raises(SettingsError, match="STRANGLER_PROXY_ADMIN_URL"):
        DashboardSettings.from_env({"STRANGLER_ADMIN_TOKEN": "t"})
