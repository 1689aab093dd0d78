"""The migration plan on the real stack (the session's shared one): the
inventory against the live table, data parity finding rows changed behind a
service's back, gates passing and failing on the proxy's real figures,
advance refused and allowed, forced, and rollback — every step a route
version in the audit log. Leaves every route at legacy when it ends.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from stack_support import RunningStack, admin, cli, set_table, strangler

from local_stack.processes import wait_until
from migration_plan import engine
from migration_plan.inventory import build_inventory, discover_routes
from migration_plan.parity import MARKET, PRICING, check_parity
from migration_plan.plan_file import load_plan, parse_plan
from new_services.pricing.adapters.change_feed import CHANNEL

REPO = Path(__file__).resolve().parents[2]
RATE = "GET /api/items/{id}/rate/"

#: The repository's plan with gates a test can reach in seconds.
TEST_PLAN = """\
version: 1
stage_sets:
  reads:
    - stage: shadow
      mode: shadow
      gates: {min_shadow_requests: 20, max_mismatch_rate: 0.05, max_error_rate: 0.05, max_cdc_lag_s: 60, parity: true}
    - stage: canary-50
      mode: canary
      weight: 50
      gates: {min_new_requests: 5, max_error_rate: 0.05, max_p99_ms: 5000}
    - {stage: new, mode: new}
contexts:
  pricing:
    service: pricing
    endpoints:
      - name: rate
        route: GET /api/items/{id}/rate/
        stages: reads
        route_options: {ignore: ["$.as_of"], timeout: 5.0}
"""
#: The same figures judged by thresholds they cannot meet.
STRICT_PLAN = TEST_PLAN.replace("min_shadow_requests: 20", "min_shadow_requests: 1000000").replace(
    "max_cdc_lag_s: 60", "max_cdc_lag_s: 0.0001"
)


def run(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    """A CLI run whose exit code the test checks itself."""
    return subprocess.run(
        strangler(*args, "--state-dir", str(stack.state_dir)),
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)


def sql(dsn: str, statement: str, *params: Any) -> Any:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchone() if cur.description else None


def plant(dsn: str, statement: str, item: int, *params: Any) -> None:
    """Change pricing's store behind its back, and tell its read cache (as
    its projector would) so answers show the change and its undoing at once."""
    with psycopg.connect(dsn) as conn:
        conn.execute(statement, params)
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(item)))


def access(stack: RunningStack) -> engine.StackAccess:
    token = (stack.state_dir / "admin-token").read_text().strip()
    return engine.StackAccess.from_endpoints(stack.endpoints, token, stack.state_dir)


def in_parity(stack: RunningStack) -> bool:
    dbs = stack.endpoints["databases"]
    return check_parity(PRICING, dbs["legacy"], dbs["pricing"]).in_parity


@pytest.fixture(scope="module")
def plan_stack(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The shared stack with pricing caught up with the seeded market, every route at legacy."""
    set_table(stack, [], "e2e: plan tests start at legacy")
    wait_until(lambda: in_parity(stack), timeout=180, what="pricing to match the monolith", interval=1.0)
    yield stack
    set_table(stack, [], "e2e: plan tests end at legacy")


@pytest.fixture
def plans(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "plan.yaml").write_text(TEST_PLAN)
    (tmp_path / "strict.yaml").write_text(STRICT_PLAN)
    return tmp_path / "plan.yaml", tmp_path / "strict.yaml"


def rate_status(stack: RunningStack, plan: Path) -> dict[str, Any]:
    data = engine.plan_status(load_plan(plan), access(stack), actor="e2e@test")
    [endpoint] = [e for c in data["contexts"] for e in c["endpoints"] if e["id"] == "pricing.rate"]
    return endpoint  # type: ignore[no-any-return]


def get_rates(stack: RunningStack, items: list[int]) -> None:
    with httpx.Client(base_url=stack.endpoints["proxy"], timeout=10) as client:
        for item in items:
            assert client.get(f"/api/items/{item}/rate/").status_code == 200


def compared_at_least(stack: RunningStack, plan: Path, n: int) -> dict[str, Any] | None:
    status = rate_status(stack, plan)
    return status if status["figures"] and status["figures"]["shadow_compared"] >= n else None


def touch_an_item(stack: RunningStack) -> None:
    """A live change of an item in the monolith's table (its values kept),
    seen relayed: the CDC lag figure is then that change's delay, not the 0
    of a quiet table."""
    legacy, state = stack.endpoints["databases"]["legacy"], access(stack).cdc_state_dir
    sql(legacy, "UPDATE smp_itm SET id = id WHERE id = (SELECT min(id) FROM smp_itm)")
    wait_until(
        lambda: "after its commit" in engine.cdc_lag(state, PRICING.legacy_tables)[1],
        timeout=30,
        what="the item's change relayed",
        interval=0.2,
    )


def gates(status: dict[str, Any]) -> dict[str, bool]:
    return {g["gate"]: g["passed"] for g in status["gates"]}


def test_inventory_lists_the_urlconf_against_the_plan_and_the_live_table(plan_stack: RunningStack) -> None:
    rate = {"methods": ["GET"], "path": "/api/items/{id}/rate/", "mode": "shadow", "service": "pricing"}
    set_table(plan_stack, [rate], "e2e: inventory")
    data = as_json(cli(plan_stack, "plan", "inventory", "--plan", str(REPO / "migration-plan.yaml"), "--json"))
    assert data["missing_from_plan"] == [] and data["unknown_in_plan"] == []
    rows = {(r["method"], r["path"]): r for r in data["endpoints"]}
    assert rows[("GET", "/api/items/{item_id}/rate/")]["live_mode"] == "shadow"
    assert rows[("POST", "/api/sales/")]["planned"] == "market.buy"
    assert not any(path.startswith(("/admin/", "/_internal/")) for _, path in rows)
    register = "      - {name: register, route: POST /api/players/}\n"
    partial = parse_plan((REPO / "migration-plan.yaml").read_text().replace(register, ""))
    assert [f"{r.method} {r.path}" for r in build_inventory(discover_routes(), partial).missing] == [
        "POST /api/players/"
    ]
    set_table(plan_stack, [], "e2e: inventory done")


def test_parity_finds_rows_changed_behind_the_services_back(plan_stack: RunningStack) -> None:
    dbs = plan_stack.endpoints["databases"]
    clean = check_parity(PRICING, dbs["legacy"], dbs["pricing"])
    assert clean.in_parity and clean.compared > 0 and clean.legacy == clean.service
    item, sku = sql(dbs["pricing"], "SELECT item_id, sku FROM items ORDER BY item_id LIMIT 1")
    sale, sold_item, qty = sql(
        dbs["pricing"],
        "SELECT sale_id, item_id, quantity FROM sales WHERE item_id <> %s ORDER BY sale_id LIMIT 1",
        item,
    )
    try:
        plant(dbs["pricing"], "UPDATE items SET sku = sku || '-x' WHERE item_id = %s", item, item)
        plant(
            dbs["pricing"],
            "UPDATE sales SET quantity = quantity + 1, total = total + unit_price WHERE sale_id = %s",
            sold_item,
            sale,
        )
        found = run(plan_stack, "parity", "check", "pricing", "--json")
        assert found.returncode == 1, found.stderr
        report = as_json(found)
        assert {d["item"]: d["differs_in"] for d in report["differences"]} == {
            item: ["sku"],
            sold_item: ["sales checksum"],
        }
        assert report["differing"] == 2 and report["counts"]["legacy"] == report["counts"]["service"]
    finally:
        plant(dbs["pricing"], "UPDATE items SET sku = %s WHERE item_id = %s", item, sku, item)
        plant(
            dbs["pricing"],
            "UPDATE sales SET quantity = %s, total = unit_price * %s WHERE sale_id = %s",
            sold_item,
            qty,
            qty,
            sale,
        )
    assert in_parity(plan_stack)


def test_market_parity_per_listing(plan_stack: RunningStack) -> None:
    dbs = plan_stack.endpoints["databases"]
    wait_until(
        lambda: check_parity(MARKET, dbs["legacy"], dbs["market"]).in_parity,
        timeout=60,
        what="the market to match the monolith",
        interval=1.0,
    )
    listing, remaining = sql(
        dbs["market"], "SELECT listing_id, quantity_remaining FROM listings ORDER BY listing_id LIMIT 1"
    )
    try:
        sql(
            dbs["market"],
            "UPDATE listings SET quantity_remaining = quantity_remaining + 1 WHERE listing_id = %s",
            listing,
        )
        report = check_parity(MARKET, dbs["legacy"], dbs["market"])
        assert [(d["listing"], d["differs_in"]) for d in report.differences] == [(listing, ["quantity_remaining"])]
    finally:
        sql(dbs["market"], "UPDATE listings SET quantity_remaining = %s WHERE listing_id = %s", remaining, listing)


def test_gates_refuse_then_allow_advance_and_rollback_steps_back(
    plan_stack: RunningStack, plans: tuple[Path, Path]
) -> None:
    plan_file, strict_file = plans
    plan, stack, dbs = load_plan(plan_file), access(plan_stack), plan_stack.endpoints["databases"]
    step = engine.advance(plan, stack, "pricing.rate", reason="e2e: shadow", actor="e2e@test")
    assert (step["from_stage"], step["to_stage"], step["forced"]) == ("legacy", "shadow", False)

    # No shadow traffic yet: the gates of shadow refuse the next step, the route stays.
    refused = run(plan_stack, "plan", "advance", "pricing.rate", "--plan", str(plan_file), "--reason", "too early")
    assert refused.returncode == 1 and "gates failed: min_shadow_requests (0 vs 20)" in refused.stderr
    assert rate_status(plan_stack, plan_file)["stage"] == "shadow"

    # A row changed behind pricing's back: its answers differ (mismatches) and parity finds it.
    item, sku = sql(dbs["pricing"], "SELECT item_id, sku FROM items ORDER BY item_id LIMIT 1")
    try:
        plant(dbs["pricing"], "UPDATE items SET sku = sku || '-x' WHERE item_id = %s", item, item)
        get_rates(plan_stack, [item] * 25)
        status = wait_until(lambda: compared_at_least(plan_stack, plan_file, 25), timeout=30, what="shadow comparisons")
        verdicts = gates(status)
        # The planted row's gates; the others (CDC lag, error rate) are judged in the clean stage below.
        assert verdicts["min_shadow_requests"], status["gates"]
        assert not verdicts["max_mismatch_rate"] and not verdicts["parity"], status["gates"]
        with pytest.raises(engine.PlanRefused, match=r"max_mismatch_rate.*parity"):
            engine.advance(plan, stack, "pricing.rate", reason="diffs", actor="e2e@test")
    finally:
        plant(dbs["pricing"], "UPDATE items SET sku = %s WHERE item_id = %s", item, sku, item)

    # Rollback to legacy, shadow again: a new stage, a new window without the old mismatches.
    back = engine.rollback(plan, stack, "pricing.rate", reason="e2e: fix the sku", actor="e2e@test")
    assert (back["from_stage"], back["to_stage"]) == ("shadow", "legacy")
    engine.advance(plan, stack, "pricing.rate", reason="e2e: shadow again", actor="e2e@test")
    get_rates(plan_stack, list(range(1, 26)))
    status = wait_until(lambda: compared_at_least(plan_stack, plan_file, 25), timeout=30, what="clean comparisons")
    assert status["gates_passed"], status["gates"]
    figures = {g["gate"]: g["figure"] for g in status["gates"]}
    assert figures["min_shadow_requests"] == 25 and figures["max_mismatch_rate"] == 0 and figures["parity"] == 0
    assert status["figures"]["new_p99_ms"] is not None  # shadow copies are timed: p99 gates work in shadow
    # The same figures against thresholds they cannot meet; the CDC lag from a live change just made.
    touch_an_item(plan_stack)
    strict_gates = gates(rate_status(plan_stack, strict_file))
    assert not strict_gates["min_shadow_requests"] and not strict_gates["max_cdc_lag_s"]

    allowed = engine.advance(plan, stack, "pricing.rate", reason="e2e: clean", actor="e2e@test")
    assert (allowed["from_stage"], allowed["to_stage"], allowed["forced"]) == ("shadow", "canary-50", False)
    with admin(plan_stack) as client:
        live = {r["key"]: r for r in client.get("/_strangler/routes").json()["routes"]}
    assert live[RATE]["mode"] == "canary" and live[RATE]["weight"] == 50 and live[RATE]["ignore"] == ["$.as_of"]

    # Canary figures: requests answered by pricing, its errors and latency.
    for _ in range(4):
        get_rates(plan_stack, list(range(1, 11)))  # a fresh cookie jar per batch: a fresh canary bucket
    canary = rate_status(plan_stack, plan_file)
    assert canary["stage"] == "canary-50" and canary["figures"]["new_requests"] > 0
    assert {g["gate"] for g in canary["gates"]} == {"min_new_requests", "max_error_rate", "max_p99_ms"}

    # Forced past failing gates: recorded as forced, in the audit log too.
    forced_file = plan_file.parent / "forced.yaml"
    forced_file.write_text(TEST_PLAN.replace("min_new_requests: 5", "min_new_requests: 100000"))
    forced = as_json(
        cli(
            plan_stack,
            "plan",
            "advance",
            "pricing.rate",
            "--plan",
            str(forced_file),
            "--force",
            "--reason",
            "e2e: forced",
            "--json",
        )
    )
    assert forced["forced"] and forced["to_stage"] == "new"
    for why in ("e2e: back to canary", "e2e: back to shadow", "e2e: back to legacy"):
        engine.rollback(plan, stack, "pricing.rate", reason=why, actor="e2e@test")
    assert rate_status(plan_stack, plan_file)["stage"] == "legacy"

    with admin(plan_stack) as client:
        versions = client.get("/_strangler/routes/history", params={"limit": 5}).json()["versions"]
    assert [v["reason"] for v in versions][::-1] == [
        "plan advance pricing.rate shadow -> canary-50: e2e: clean",
        "plan advance pricing.rate canary-50 -> new: FORCED past failed gates: min_new_requests; e2e: forced",
        "plan rollback pricing.rate new -> canary-50: e2e: back to canary",
        "plan rollback pricing.rate canary-50 -> shadow: e2e: back to shadow",
        "plan rollback pricing.rate shadow -> legacy: e2e: back to legacy",
    ]
    steps = as_json(cli(plan_stack, "plan", "history", "--limit", "5", "--json"))["steps"]
    assert [s["forced"] for s in steps] == [False, False, False, True, False]


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")  # a UserWarning subclass
def test_the_plan_api_the_dashboard_reads(plan_stack: RunningStack, plans: tuple[Path, Path]) -> None:
    from starlette.testclient import TestClient

    from migration_plan.api import PlanApi, create_app

    plan_file, _ = plans
    token = (plan_stack.state_dir / "admin-token").read_text().strip()
    with TestClient(create_app(PlanApi(plan_file, access(plan_stack)))) as client:
        assert client.get("/api/plan/status").status_code == 401
        auth = {"authorization": f"Bearer {token}", "x-strangler-actor": "alice@dashboard"}
        status = client.get("/api/plan/status", headers=auth).json()
        assert status["progress"]["planned"] == 1 and status["contexts"][0]["endpoints"][0]["stage"] == "legacy"
        refused = client.post("/api/plan/rollback", json={"target": "pricing.rate", "reason": "x"}, headers=auth)
        assert refused.status_code == 409 and "already served by legacy" in refused.json()["error"]
        step = client.post("/api/plan/advance", json={"target": "pricing.rate", "reason": "ui"}, headers=auth).json()
        assert step["to_stage"] == "shadow"
        back = client.post("/api/plan/rollback", json={"target": "pricing.rate", "reason": "ui back"}, headers=auth)
        assert back.json()["to_stage"] == "legacy"
        steps = client.get("/api/plan/history", params={"limit": 2}, headers=auth).json()["steps"]
        assert [(s["actor"], s["reason"]) for s in steps] == [("alice@dashboard", "ui back"), ("alice@dashboard", "ui")]
        assert client.get("/api/parity/pricing", headers=auth).json()["in_parity"]
        assert client.get("/api/parity/nowhere", headers=auth).status_code == 404
