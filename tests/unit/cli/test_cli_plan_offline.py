"""``strangler plan`` and ``strangler parity`` without a stack: validation
errors with their lines, usage errors, and "no stack" as exit 3."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from strangler_cli.main import app

REPO_PLAN = Path(__file__).resolve().parents[3] / "migration-plan.yaml"
ENV = {"COLUMNS": "200", "STRANGLER_ADMIN_TOKEN": None, "STRANGLER_PROXY_ADMIN_URL": None}


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=ENV)
    return result.exit_code, result.stdout, result.stderr


def test_validate_the_repository_plan() -> None:
    code, out, _ = invoke("plan", "validate", "--plan", str(REPO_PLAN))
    assert code == 0 and "valid, 12 endpoint(s) in 5 context(s)" in out


def test_an_invalid_plan_lists_file_line_and_problem_and_exits_5(tmp_path: Path) -> None:
    bad = tmp_path / "plan.yaml"
    bad.write_text(
        REPO_PLAN.read_text().replace("weight: 50", "weight: fifty").replace("parity: true", "parity: yes please")
    )
    code, _, err = invoke("plan", "validate", "--plan", str(bad))
    assert code == 5
    lines = [line.strip() for line in err.splitlines() if line.strip().startswith(str(bad))]
    text = REPO_PLAN.read_text().splitlines()
    weight_line = next(i for i, line in enumerate(text, 1) if "weight: 50" in line)
    assert f"{bad}:{weight_line}: stage_sets.reads[2].weight: must be int, got 'fifty'" in lines
    assert any(": stage_sets.reads[0].gates.parity: must be bool, got 'yes please'" in line for line in lines)


def test_steps_need_a_reason_and_status_needs_a_stack(tmp_path: Path) -> None:
    code, _, err = invoke("plan", "advance", "pricing.rate", "--plan", str(REPO_PLAN), "--state-dir", str(tmp_path))
    assert code == 2 and "--reason is required" in err
    code, _, err = invoke("plan", "status", "--plan", str(REPO_PLAN), "--state-dir", str(tmp_path))
    assert code == 3 and "no running stack" in err


def test_parity_names_the_contexts_it_knows_and_needs_databases(tmp_path: Path) -> None:
    code, _, err = invoke("parity", "check", "players", "--state-dir", str(tmp_path))
    assert code == 2 and "known: pricing, market" in err
    code, _, err = invoke("parity", "check", "pricing", "--state-dir", str(tmp_path))
    assert code == 3 and "--legacy-db" in err


def test_the_status_table_shows_stages_gates_figures_and_progress(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from strangler_cli.plan import print_status

    monkeypatch.setenv("COLUMNS", "200")

    gate = {"gate": "max_mismatch_rate", "figure": 0.12, "threshold": 0.05, "passed": False, "detail": ""}
    rate = {
        "id": "pricing.rate",
        "route": "GET /api/items/{id}/rate/",
        "stage": "shadow",
        "stages": ["shadow", "new"],
        "next_stage": "new",
        "gates_passed": False,
        "gates": [gate, {**gate, "gate": "min_shadow_requests", "figure": 40, "threshold": 20, "passed": True}],
        "window": {"since": "2026-12-01T22:00:00+00:00", "from": "stage entered"},
    }
    items = {
        **rate,
        "id": "catalog.items",
        "route": "GET /api/items/",
        "stage": "legacy",
        "stages": [],
        "next_stage": None,
        "gates_passed": None,
        "gates": [],
    }
    traffic = {"since": None, "requests": 80, "share_new": 0.25}
    data = {
        "route_version": 7,
        "contexts": [{"endpoints": [rate]}, {"endpoints": [items]}],
        "progress": {"migrated": 0, "planned": 1, "endpoints": 2, "traffic": traffic},
    }
    print_status(data)
    out = capsys.readouterr().out
    assert "migrated 0 of 1 planned endpoints (2 in the plan); new services served 25.0% of 80 requests" in out
    assert "fail: max_mismatch_rate" in out and "catalog.items" in out
    assert "pricing.rate at shadow" in out and "2026-12-01T22:00:00" in out
    assert "0.12" in out and "FAIL" in out and "pass" in out
