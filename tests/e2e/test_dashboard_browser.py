"""The dashboard in headless Chromium on the shared stack.

Debian's ``chromium`` is driven by Playwright through its executable path
(``make browser`` installs it; Playwright's own browser download is never
used). The page must: refuse anonymous readers, show the figures the APIs
give (the proxy's admin API, ``strangler plan status``, the CDC relay), and
flip a route when a person advances and rolls back an endpoint on it; the
admin token and the password never appear in the page or the dashboard's log.

``STRANGLER_DASHBOARD_SCREENSHOT=docs/img/dashboard.png`` keeps a screenshot
of the board (the README's).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from stack_support import RunningStack, admin, cli, set_table

from local_stack.processes import NotReady, wait_until

pytestmark = pytest.mark.slow

RATE_PATH = "/api/items/{id}/rate/"
RATE_ROUTE = {
    "methods": ["GET", "HEAD"],
    "path": RATE_PATH,
    "mode": "shadow",
    "service": "pricing",
    "ignore": ["$.as_of"],
    "timeout": 2.0,
}
USER = "e2e-dash"
ROOT = Path(__file__).resolve().parents[2]
#: How long the page may take to show a change (the collector samples every 2 s, the plan every 5 s).
SHOWN_WITHIN_S = 30.0


def chromium() -> str:
    found = os.environ.get("STRANGLER_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Debian's chromium is missing: run `make browser` (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: Chromium's sandbox refuses to run as root (containers, CI)
        launched = playwright.chromium.launch(
            executable_path=chromium(), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    context.set_default_timeout(SHOWN_WITHIN_S * 1000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def _secrets(stack: RunningStack) -> tuple[str, str]:
    token = (stack.state_dir / "admin-token").read_text().strip()
    password = (stack.state_dir / "dashboard-password").read_text().strip()
    return token, password


def _login(page: Any, stack: RunningStack, secret: str) -> None:
    page.goto(stack.endpoints["dashboard"] + "/")
    page.fill("[data-testid=login-name]", USER)
    page.fill("[data-testid=login-secret]", secret)
    page.click("[data-testid=login-submit]")
    page.wait_for_selector("[data-testid=card]")


def _live(stack: RunningStack) -> dict[str, Any]:
    with admin(stack) as client:
        return dict(client.get("/_strangler/routes").json())


def _rate_route(stack: RunningStack) -> dict[str, Any]:
    """The live route of the rate endpoint (a plan step may rewrite its key:
    the plan names it ``GET``, the test's table ``GET,HEAD``)."""
    return next(r for r in _live(stack)["routes"] if r["path"] == RATE_PATH)


def _history(stack: RunningStack, limit: int = 10) -> list[dict[str, Any]]:
    with admin(stack) as client:
        return list(client.get("/_strangler/routes/history", params={"limit": limit}).json()["versions"])


def _sql(dsn: str, statement: str, *params: Any) -> Any:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(statement, params).fetchone()


def _plant(dsn: str, statement: str, item: int, *params: Any) -> None:
    """Change pricing's store behind its back and tell its read cache (as its
    projector would), so its answers show the change, and its undoing, at once."""
    from new_services.pricing.adapters.change_feed import CHANNEL

    with psycopg.connect(dsn) as conn:
        conn.execute(statement, params)
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(item)))


def _card(page: Any, endpoint_id: str) -> Any:
    return page.locator(f'[data-testid=card][data-id="{endpoint_id}"]')


def _shown(what: str, check: Any) -> Any:
    """Wait (bounded) until ``check()`` is truthy: the page shows data a few seconds late."""
    return wait_until(check, timeout=SHOWN_WITHIN_S, what=what, interval=0.5)


def test_anonymous_readers_get_the_login_page_only(stack: RunningStack, page: Any) -> None:
    url = stack.endpoints["dashboard"]
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/").status_code == 303 and client.get("/").headers["location"] == "/login"
        for path in ("/api/snapshot", "/api/route?key=x", "/static/dashboard.js", "/static/index.html"):
            assert client.get(path).status_code == 401, path
        step = client.post("/api/advance", json={"target": "pricing.rate", "reason": "x"})
        assert step.status_code == 401
    page.goto(url + "/")
    assert page.url.endswith("/login")
    page.fill("[data-testid=login-name]", USER)
    page.fill("[data-testid=login-secret]", "not-the-token")
    page.click("[data-testid=login-submit]")
    assert "Wrong token or password" in page.locator("[data-testid=login-error]").inner_text()
    assert page.locator("[data-testid=board]").count() == 0


Gate = tuple[str, bool, float | None]


def _page_gates(card: Any) -> list[Gate]:
    return [
        (
            str(g.get_attribute("data-gate")),
            g.get_attribute("data-passed") == "true",
            _number(g.get_attribute("data-figure")),
        )
        for g in card.locator("[data-testid=gate]").all()
    ]


def _steady(gates: list[Gate]) -> list[Gate]:
    """The gates with what may rightly differ between two moments left out.

    The CDC lag's figure: once the relay's status is more than 10 s old it
    grows every second (the page shows it as of its last refresh), so only
    its verdict is compared. Parity: the board keeps a parity result for
    ``PARITY_MAX_AGE_S`` (a check reads every legacy row), so the page may
    still show the divergence this test planted and reverted a moment ago
    while a fresh check finds none; only that the gate is there is compared."""
    steady: list[Gate] = []
    for name, passed, figure in gates:
        if name == "parity":
            steady.append((name, True, None))
        else:
            steady.append((name, passed, None if name == "max_cdc_lag_s" else figure))
    return steady


def _plan_gates(stack: RunningStack, endpoint_id: str) -> list[Gate]:
    """The gates as ``strangler plan status --json`` gives them (its function,
    in-process: a CLI start per try costs seconds on a busy machine)."""
    from migration_plan.engine import StackAccess, plan_status
    from migration_plan.plan_file import load_plan

    token, _ = _secrets(stack)
    access = StackAccess.from_endpoints(stack.endpoints, token, stack.state_dir)
    # the admin listener when the stack has one (the proxy's public port refuses /_strangler/ there)
    access = dataclasses.replace(access, proxy_url=stack.endpoints.get("proxy_admin") or access.proxy_url)
    status = plan_status(load_plan(ROOT / "migration-plan.yaml"), access, actor="e2e")
    endpoint = next(e for c in status["contexts"] for e in c["endpoints"] if e["id"] == endpoint_id)
    return [(str(g["gate"]), bool(g["passed"]), _number(g["figure"])) for g in endpoint["gates"]]


def _number(value: Any) -> float | None:
    """A figure as a number, however it was spelt (JSON, or the page's attribute)."""
    if value is None or value == "":
        return None
    if value in (True, "true"):
        return 1.0
    if value in (False, "false"):
        return 0.0
    return float(value)


def test_the_board_shows_the_apis_figures_and_its_buttons_flip_the_route(stack: RunningStack, page: Any) -> None:
    token, password = _secrets(stack)
    set_table(stack, [RATE_ROUTE], "e2e: the dashboard test starts in shadow")
    key = str(_rate_route(stack)["key"])
    pricing_db = stack.endpoints["databases"]["pricing"]
    item, sku = _sql(pricing_db, "SELECT item_id, sku FROM items ORDER BY item_id LIMIT 1")
    try:
        # One item's sku changed behind pricing's back: its shadow comparisons differ in $.sku.
        _plant(pricing_db, "UPDATE items SET sku = sku || '-x' WHERE item_id = %s", item, item)
        with httpx.Client(base_url=stack.endpoints["proxy"], timeout=10) as client:
            for other in [item, *range(1, 40)]:
                assert client.get(f"/api/items/{other}/rate/").status_code in (200, 404)
        with admin(stack) as client:
            wait_until(
                lambda: client.get("/_strangler/diffs", params={"limit": 1}).json()["counts"].get(key, 0) > 0,
                timeout=SHOWN_WITHIN_S,
                what="the planted mismatch to be stored",
                interval=0.5,
            )
    finally:
        _plant(pricing_db, "UPDATE items SET sku = %s WHERE item_id = %s", item, sku, item)

    _login(page, stack, password)
    card = _card(page, "pricing.rate")
    card.wait_for()
    # the board is refreshed every few seconds: it shows the new table a little after the flip
    _shown("the rate card on its live route", lambda: card.get_attribute("data-route") == key)
    _shown("the rate card in shadow", lambda: card.get_attribute("data-stage") == "shadow")
    source = page.locator("#source").inner_text()
    assert "migration plan" in source, source

    # -- the figures are the APIs' -------------------------------------------------------
    live = _live(stack)
    _shown(
        "the route version",
        lambda: page.locator("[data-testid=route-version]").get_attribute("data-value") == str(_live(stack)["version"]),
    )
    modes = {str(r["key"]): str(r["mode"]) for r in live["routes"]}
    for shown in page.locator("[data-testid=card]").all():
        if shown.get_attribute("data-route") in modes:
            assert shown.get_attribute("data-mode") == modes[shown.get_attribute("data-route")]

    def audit_matches() -> bool:
        rows = page.locator("[data-testid=audit-row]").all()[:5]
        versions = _history(stack, 5)
        return [r.get_attribute("data-version") for r in rows] == [str(v["version"]) for v in versions]

    _shown("the audit history", audit_matches)

    def stored_mismatches_shown() -> bool:
        with admin(stack) as client:
            stored = client.get("/_strangler/diffs", params={"limit": 1}).json()["counts"].get(key, 0)
        return card.locator("[data-testid=mismatch-count]").get_attribute("data-value") == str(stored)

    _shown("the stored mismatches", stored_mismatches_shown)
    seen: dict[str, list[Gate]] = {}

    def gates_match() -> bool:
        seen["page"], seen["plan"] = _steady(_page_gates(card)), _steady(_plan_gates(stack, "pricing.rate"))
        return seen["page"] == seen["plan"]

    try:
        wait_until(gates_match, timeout=SHOWN_WITHIN_S, what="the gates of `strangler plan status`", interval=0.5)
    except NotReady as exc:
        raise AssertionError(f"{exc}: the page shows {seen['page']}, the plan says {seen['plan']}") from None

    relay = json.loads(cli(stack, "cdc", "status", "--json").stdout)
    _shown(
        "the relay's tables",
        lambda: (
            sorted(g.get_attribute("data-label") for g in page.locator("[data-testid=cdc-table]").all())
            == sorted(relay["tables"])
        ),
    )
    letters = json.loads(cli(stack, "acl", "dlq", "list", "--json").stdout)
    _shown(
        "the DLQ size", lambda: page.locator("[data-testid=dlq-size]").get_attribute("data-value") == str(len(letters))
    )
    groups = [g.get_attribute("data-label") for g in page.locator("[data-testid=consumer-group]").all()]
    assert any(label.startswith("strangler-acl") for label in groups) and any("pricing" in label for label in groups)
    page.locator("[data-testid=chart-traffic] svg path").first.wait_for()
    # the latest field-level differences, side by side
    field = page.locator('[data-testid=diff-field][data-path="$.sku"]').first
    field.wait_for()
    legacy_cell, new_cell = field.locator("td.legacy"), field.locator("td.new")
    assert legacy_cell.inner_text() == json.dumps(sku) and new_cell.inner_text() == json.dumps(sku + "-x")
    # attached, not visible: with one sample so far the series is a single point (a path of no size)
    page.locator('[data-testid=chart-mismatch] svg path[data-series="mismatch rate"]').first.wait_for(state="attached")

    if os.environ.get("STRANGLER_DASHBOARD_SCREENSHOT"):
        page.screenshot(path=os.environ["STRANGLER_DASHBOARD_SCREENSHOT"], full_page=False)

    # -- advance on the page ----------------------------------------------------------------
    card.locator("[data-testid=reason]").fill("e2e: shadow looks right")
    card.locator("[data-testid=advance]").click()
    result = page.locator("[data-testid=step-result]")
    _shown("the advance's outcome", lambda: result.get_attribute("data-ok") in ("true", "false"))
    forced = result.get_attribute("data-ok") == "false"
    if forced:
        # A red gate refused the step and the page says which; forcing is recorded as forced.
        assert "refused" in result.inner_text() and "gates failed" in result.inner_text(), result.inner_text()
        assert any(not passed for _gate, passed, _figure in _page_gates(card))
        assert _live(stack)["version"] == live["version"]
        card.locator("[data-testid=force]").check()
        card.locator("[data-testid=advance]").click()
        _shown("the forced advance", lambda: result.get_attribute("data-ok") == "true")
    route = _rate_route(stack)
    assert (route["mode"], route.get("weight")) == ("canary", 5)
    latest = _history(stack, 1)[0]
    assert latest["actor"] == f"{USER}@dashboard" and "e2e: shadow looks right" in latest["reason"]
    assert ("FORCED" in latest["reason"]) is forced
    _shown("the card in canary-5", lambda: card.get_attribute("data-stage") == "canary-5")

    # -- roll back on the page --------------------------------------------------------------
    card.locator("[data-testid=reason]").fill("e2e: back to shadow")
    card.locator("[data-testid=rollback]").click()
    _shown(
        "the rollback's outcome",
        lambda: "rollback" in result.inner_text() and result.get_attribute("data-ok") == "true",
    )
    assert _rate_route(stack)["mode"] == "shadow"
    latest = _history(stack, 1)[0]
    assert latest["actor"] == f"{USER}@dashboard" and "e2e: back to shadow" in latest["reason"]
    _shown("the card back in shadow", lambda: card.get_attribute("data-stage") == "shadow")
    _shown(
        "the rollback in the audit history",
        lambda: page.locator("[data-testid=audit-row]").first.get_attribute("data-version") == str(latest["version"]),
    )

    # -- the secrets never reach the page or the log ------------------------------------------
    html = page.content()
    snapshot = page.evaluate("() => fetch('/api/snapshot').then(r => r.text())")
    log = (stack.state_dir / "logs" / "dashboard.log").read_text()
    for secret in (token, password):
        assert secret not in html and secret not in snapshot and secret not in log
    set_table(stack, [], "e2e: the dashboard test ends at legacy")


def test_automatic_rollbacks_are_highlighted_in_the_audit_history(stack: RunningStack, page: Any) -> None:
    _token, password = _secrets(stack)
    # Any answer is slower than 1 µs: the proxy's limit watcher rolls the route back within a second or two.
    over = {**RATE_ROUTE, "mode": "new", "limits": {"p99_ms": 0.001, "min_requests": 3, "window_s": 60}}
    set_table(stack, [over], "e2e: a route over its limit, to be rolled back automatically")
    since = int(_live(stack)["version"])
    with httpx.Client(base_url=stack.endpoints["proxy"], timeout=10) as client:
        for item in range(1, 6):
            client.get(f"/api/items/{item}/rate/")
    auto = wait_until(
        lambda: next((v for v in _history(stack) if v["kind"] == "auto-rollback" and v["version"] > since), None),
        timeout=30,
        what="the proxy's automatic rollback",
        interval=0.5,
    )
    _login(page, stack, password)
    row = page.locator(f'[data-testid=audit-row][data-version="{auto["version"]}"]')
    row.wait_for()
    assert row.get_attribute("data-auto") == "true" and "auto" in str(row.get_attribute("class")).split()
    assert "AUTO-ROLLBACK" in row.inner_text() and auto["actor"] in row.inner_text()
    background = row.locator("td").first.evaluate("td => getComputedStyle(td).backgroundColor")
    assert background == "rgb(253, 236, 234)"  # the highlight, not a plain row
    plain = page.locator('[data-testid=audit-row][data-auto="false"]').first
    assert plain.locator("td").first.evaluate("td => getComputedStyle(td).backgroundColor") != background
    set_table(stack, [], "e2e: the dashboard test ends at legacy")


def test_a_session_from_the_admin_token_works_too_and_logout_ends_it(stack: RunningStack, page: Any) -> None:
    token, _ = _secrets(stack)
    _login(page, stack, token)
    page.click(".logout button")
    page.wait_for_url("**/login")
    status = page.evaluate("() => fetch('/api/snapshot').then(r => r.status)")
    assert status == 401
