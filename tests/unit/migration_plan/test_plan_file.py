"""Plan validation: every problem is found, with its line and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from migration_plan.plan_file import PlanError, Stage, load_plan, parse_plan
from strangler_proxy.routing import Mode

REPO_PLAN = Path(__file__).resolve().parents[3] / "migration-plan.yaml"

GOOD = """\
version: 1
stage_sets:
  reads:
    - {stage: shadow, mode: shadow, gates: {min_shadow_requests: 10, max_mismatch_rate: 0.01}}
    - {stage: canary-5, mode: canary, weight: 5}
    - {stage: new, mode: new}
contexts:
  pricing:
    service: pricing
    endpoints:
      - name: rate
        route: GET /api/items/{id}/rate/
        stages: reads
        route_options: {ignore: ["$.as_of"]}
  catalog:
    service: null
    endpoints:
      - {name: items, route: GET /api/items/}
"""


def problems(text: str) -> list[tuple[int, str]]:
    with pytest.raises(PlanError) as caught:
        parse_plan(text, "plan.yaml")
    return [(p.line, p.message) for p in caught.value.problems]


def test_the_repository_plan_is_valid() -> None:
    plan = load_plan(REPO_PLAN)
    assert plan.endpoint("pricing.rate").stages[0].mode is Mode.SHADOW
    assert {e.id for e in plan.endpoints if e.writes == "market"} == {
        "market.list-item",
        "market.cancel-listing",
        "market.buy",
    }


def test_a_good_plan_loads_with_its_stages_and_gates() -> None:
    plan = parse_plan(GOOD)
    rate = plan.endpoint("pricing.rate")
    assert [s.name for s in rate.stages] == ["shadow", "canary-5", "new"]
    assert rate.stages[0].gates == {"min_shadow_requests": 10, "max_mismatch_rate": 0.01}
    assert rate.stages[1] == Stage("canary-5", Mode.CANARY, 5, {})
    assert rate.options == {"ignore": ["$.as_of"]}
    assert not plan.endpoint("catalog.items").migrates
    assert plan.endpoint("GET /api/items/{item_id}/rate/") is rate  # by route, placeholder names aside


def test_unknown_gate_names_its_line() -> None:
    text = GOOD.replace("min_shadow_requests: 10", "min_shadow_requets: 10")
    [(line, message)] = problems(text)
    assert line == 4
    assert "unknown key 'min_shadow_requets'" in message and "min_shadow_requests" in message


def test_bad_canary_weight_names_its_line_and_the_rule() -> None:
    [(line, message)] = problems(GOOD.replace("weight: 5", "weight: 150"))
    assert line == 5
    assert "stage_sets.reads[1].weight: must be 1-99, got 150" in message


def test_a_canary_without_weight_and_a_rate_above_one() -> None:
    text = GOOD.replace(", weight: 5", "").replace("max_mismatch_rate: 0.01", "max_mismatch_rate: 5")
    found = problems(text)
    assert (
        4,
        "stage_sets.reads[0].gates.max_mismatch_rate: must be a fraction between 0 and 1 (0.01 is 1%), got 5.0",
    ) in found
    assert any(line == 5 and "needs 'weight'" in m for line, m in found)


def test_unknown_mode_and_wrong_types_are_all_reported() -> None:
    text = GOOD.replace("mode: new}", "mode: brand-new}").replace(
        "min_shadow_requests: 10", "min_shadow_requests: many"
    )
    found = problems(text)
    assert any(line == 6 and "mode: must be one of shadow, canary, new, retired" in m for line, m in found)
    assert any(line == 4 and "min_shadow_requests: must be int, got 'many'" in m for line, m in found)


def test_route_and_stage_set_mistakes_name_their_lines() -> None:
    text = GOOD.replace("route: GET /api/items/{id}/rate/", "route: FETCH api/items").replace(
        "stages: reads", "stages: readz"
    )
    found = problems(text)
    assert [line for line, _ in found] == [12, 13]
    assert "route" in found[0][1]
    assert "no stage set 'readz' (known: reads)" in found[1][1]


def test_duplicate_routes_and_missing_keys() -> None:
    text = GOOD + '      - {name: rate2, route: "GET /api/items/{x}/rate/"}\n      - {route: GET /api/other/}\n'
    found = problems(text)
    assert any(
        line == 19 and "GET /api/items/{x}/rate/ is planned twice (also pricing.rate, line 11)" in m
        for line, m in found
    )
    assert any(line == 20 and "'name' is missing" in m for line, m in found)


def test_stages_without_a_service_and_writes_through_shadow_are_refused() -> None:
    text = GOOD.replace(
        "      - {name: items, route: GET /api/items/}", "      - {name: items, route: GET /api/items/, stages: reads}"
    )
    assert any("has no service to move to" in m for _, m in problems(text))
    writes = GOOD.replace("        stages: reads\n", "        stages: reads\n        writes: pricing\n")
    assert any(line == 11 or "moves straight to new" in m for line, m in problems(writes))


def test_broken_yaml_names_the_line() -> None:
    [(line, message)] = problems("version: 1\ncontexts:\n  a: [1, 2\n  b: 3\n")
    assert line == 4 and message.startswith("not valid YAML")


def test_the_error_text_is_file_line_problem() -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan(GOOD.replace("version: 1", "version: 2"), "migration-plan.yaml")
    assert str(caught.value) == "migration-plan.yaml:1: version: only version 1 exists, got 2"
