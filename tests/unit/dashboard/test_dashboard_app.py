"""The web app with a fake admin API: login required, the token never in a
page, steps need the page's header and carry the person's name."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from strangler_dashboard.app import create_app
from strangler_dashboard.auth import CSRF_HEADER
from strangler_dashboard.settings import DashboardSettings
from strangler_proxy.metrics import Metrics, render

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")  # it asks for httpx2
    from starlette.testclient import TestClient

TOKEN = "admin-t0ken-never-shown"
PASSWORD = "dash-pass-never-shown"
RATE = "GET,HEAD /api/items/{id}/rate/"


class FakeProxyAdmin:
    """The admin API endpoints the dashboard reads, answered in memory."""

    def __init__(self) -> None:
        self.routes = [{"key": RATE, "mode": "shadow", "service": "pricing"}]
        self.version = 3
        self.steps: list[tuple[dict[str, Any], str | None]] = []
        self.metrics = Metrics()

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"error": "missing bearer token"})
        path = request.url.path
        if path == "/_strangler/metrics":
            self.metrics.inc("strangler_requests_total", (("route", RATE), ("upstream", "legacy"), ("code", "2xx")))
            return httpx.Response(200, text=render({"1": self.metrics.snapshot()}))
        if path == "/_strangler/routes":
            return httpx.Response(
                200, json={"version": self.version, "live_version": self.version, "routes": self.routes}
            )
        if path == "/_strangler/routes/history":
            versions = [
                {
                    "version": 3,
                    "actor": "strangler-proxy/1 (auto-rollback)",
                    "reason": "over limit",
                    "kind": "auto-rollback",
                    "created_at": "2026-12-01T10:00:00+00:00",
                },
                {
                    "version": 2,
                    "actor": "bob@host",
                    "reason": "start shadow",
                    "kind": "set",
                    "created_at": "2026-12-01T09:00:00+00:00",
                },
            ]
            return httpx.Response(200, json={"live_version": self.version, "versions": versions})
        if path == "/_strangler/diffs":
            return httpx.Response(200, json={"mismatches": [], "counts": {RATE: 4}})
        if path == "/_strangler/status":
            return httpx.Response(200, json={"breakers": {"pricing": "closed"}})
        if path == "/_strangler/routes/set" and request.method == "POST":
            body = json.loads(request.content)
            self.steps.append((body, request.headers.get("x-strangler-actor")))
            self.version += 1
            self.routes = [{**self.routes[0], "mode": body["mode"], "weight": body["weight"]}]
            return httpx.Response(200, json={"version": self.version, "previous": self.version - 1})
        return httpx.Response(404, json={"error": f"no {path}"})


@pytest.fixture
def fake() -> FakeProxyAdmin:
    return FakeProxyAdmin()


@pytest.fixture
def client(fake: FakeProxyAdmin) -> Iterator[TestClient]:
    settings = DashboardSettings.from_env(
        {}, admin_token=TOKEN, password=PASSWORD, proxy_admin_url="http://admin.invalid", sample_s=0.2
    )
    app = create_app(settings, transport=httpx.MockTransport(fake.handler))
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def _login(client: TestClient, secret: str, name: str = "ann") -> httpx.Response:
    return client.post("/login", data={"name": name, "secret": secret}, follow_redirects=False)


def test_anonymous_gets_nothing(client: TestClient) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    for path in ("/api/snapshot", f"/api/route?key={RATE}", "/static/dashboard.js", "/static/index.html"):
        assert client.get(path).status_code == 401, path
    assert (
        client.post("/api/advance", json={"target": RATE, "reason": "x"}, headers={CSRF_HEADER: "1"}).status_code == 401
    )
    assert client.get("/static/login.css").status_code == 200
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/healthz").json() == {"status": "ok"}


def test_wrong_secret_is_refused_then_throttled(client: TestClient) -> None:
    for _ in range(5):
        response = _login(client, "guess")
        assert response.status_code == 401 and "Wrong token or password" in response.text
    assert _login(client, TOKEN).status_code == 429  # even the right one, for a while
    assert "strangler_dashboard" not in client.cookies


@pytest.mark.parametrize("secret", [TOKEN, PASSWORD])
def test_login_with_token_or_password_and_the_secret_never_comes_back(
    client: TestClient, secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = _login(client, secret)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie and PASSWORD not in cookie
    page = client.get("/")
    assert page.status_code == 200 and 'data-testid="board"' in page.text
    assert "content-security-policy" in page.headers
    for path in ("/static/dashboard.js", "/static/dashboard.css"):
        assert client.get(path).status_code == 200
    snapshot = _ready_snapshot(client)
    for text in (page.text, json.dumps(snapshot), caplog.text):
        assert TOKEN not in text and PASSWORD not in text


def _ready_snapshot(client: TestClient) -> dict[str, Any]:
    from local_stack.processes import wait_until

    def ready() -> dict[str, Any] | None:
        snap: dict[str, Any] = client.get("/api/snapshot").json()
        return snap if snap.get("ready") and len(snap.get("routes", {})) else None

    return wait_until(ready, timeout=10, what="a snapshot with figures", interval=0.1)


def test_snapshot_has_board_figures_audit_and_auto_rollbacks(client: TestClient) -> None:
    _login(client, TOKEN)
    snap = _ready_snapshot(client)
    assert snap["user"] == "ann"
    (context,) = snap["board"]["contexts"]
    assert context["endpoints"][0]["stage"] == "shadow"
    assert snap["routes"][RATE]["upstreams"]["legacy"]["requests"] >= 1
    assert snap["mismatch_counts"] == {RATE: 4}
    assert [(v["version"], v["auto"]) for v in snap["audit"]] == [(3, True), (2, False)]
    assert snap["errors"] == []


def test_steps_need_the_page_header_and_record_the_person(client: TestClient, fake: FakeProxyAdmin) -> None:
    _login(client, PASSWORD, name="Ann <script>")
    body = {"target": RATE, "reason": "figures look right"}
    assert client.post("/api/advance", json=body).status_code == 403  # a cross-site form cannot add the header
    response = client.post("/api/advance", json=body, headers={CSRF_HEADER: "1"})
    assert response.status_code == 200, response.text
    assert response.json()["to_stage"] == "canary-5"
    ((step, actor),) = fake.steps
    assert actor == "Ann script@dashboard"  # cleaned for the audit log
    assert step["mode"] == "canary" and "figures look right" in step["reason"]
    refused = client.post("/api/rollback", json={"target": RATE, "reason": ""}, headers={CSRF_HEADER: "1"})
    assert refused.status_code == 409 and "reason" in refused.json()["error"]
    back = client.post("/api/rollback", json={"target": RATE, "reason": "undo"}, headers={CSRF_HEADER: "1"})
    assert back.json()["to_stage"] == "shadow"


def test_logout_ends_the_session(client: TestClient) -> None:
    _login(client, TOKEN)
    assert client.get("/api/snapshot").status_code == 200
    client.post("/logout", follow_redirects=False)
    assert client.get("/api/snapshot").status_code == 401


def test_a_step_answers_with_a_snapshot_gathered_after_it(client: TestClient, fake: FakeProxyAdmin) -> None:
    """The page refreshes once the step answers: that snapshot must show the step."""
    _login(client, TOKEN)
    _ready_snapshot(client)
    response = client.post("/api/advance", json={"target": RATE, "reason": "go"}, headers={CSRF_HEADER: "1"})
    assert response.status_code == 200
    snap = client.get("/api/snapshot").json()
    assert snap["board"]["route_version"] == fake.version
    assert snap["board"]["contexts"][0]["endpoints"][0]["stage"] == "canary-5"


def test_a_step_body_must_be_a_json_object(client: TestClient) -> None:
    _login(client, TOKEN)
    for body in ("[1, 2]", "not json"):
        response = client.post("/api/advance", content=body, headers={CSRF_HEADER: "1"})
        assert response.status_code == 400, body


def test_odd_login_bodies_are_refused_not_crashed(client: TestClient) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    for body in ("&".join(f"f{i}=x" for i in range(50)), "secret=" + "x" * 20_000):
        response = client.post("/login", content=body, headers=headers, follow_redirects=False)
        assert response.status_code == 401
