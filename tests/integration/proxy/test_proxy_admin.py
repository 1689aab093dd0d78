"""Admin API: token, refused tables, versions, rollback, audit."""

from __future__ import annotations

import httpx
from proxy_support import ProxyProc

ROUTE = "GET /api/items/{id}/rate/"


def test_admin_refuses_missing_or_wrong_token(proxy: ProxyProc) -> None:
    url = proxy.admin_url + "/_strangler/routes"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"authorization": "Bearer nope"}).status_code == 403
    assert httpx.get(url, headers={"authorization": "Basic " + proxy.token}).status_code == 401
    assert (
        httpx.post(
            url + "/set",
            json={"route": ROUTE, "mode": "new", "reason": "x"},
            headers={"authorization": "Bearer " + proxy.token + "x"},
        ).status_code
        == 403
    )
    assert proxy.admin("GET", "/routes").status_code == 200
    assert proxy.token not in proxy.log()


def test_invalid_table_is_refused_whole_and_live_table_stays(proxy: ProxyProc) -> None:
    proxy.set_route(ROUTE, "new", service="pricing")
    before = proxy.admin("GET", "/routes").json()
    bad = [
        {"methods": ["GET"], "path": "/a/{x}/", "mode": "new", "service": "pricing"},
        {"methods": ["GET"], "path": "/a/{y}/", "mode": "legacy"},
        {"methods": ["GET"], "path": "/b/", "mode": "canary", "service": "pricing", "weight": 150},
        {"methods": ["GET"], "path": "/c/", "mode": "new", "service": "ghost"},
    ]
    r = proxy.admin("PUT", "/routes", json={"table": {"routes": bad}, "reason": "bad"})
    assert r.status_code == 422
    problems = " ".join(r.json()["problems"])
    assert "overlap" in problems and "weight" in problems and "unknown service 'ghost'" in problems
    r = proxy.admin("POST", "/routes/set", json={"route": ROUTE, "mode": "canary", "weight": 101, "reason": "x"})
    assert r.status_code == 422
    after = proxy.admin("GET", "/routes").json()
    assert after["version"] == before["version"] and after["routes"] == before["routes"]
    assert httpx.get(proxy.url + "/api/items/1/rate/").headers["x-strangler-upstream"] == "pricing"


def test_versions_history_and_rollback(proxy: ProxyProc) -> None:
    v_shadow = proxy.set_route(ROUTE, "shadow", service="pricing").json()["version"]
    proxy.set_route(ROUTE, "new")
    proxy.set_route(ROUTE, "canary", weight=20)
    hist = proxy.admin("GET", "/routes/history").json()["versions"]
    assert [v["kind"] for v in hist[:3]] == ["set", "set", "set"]
    assert all(v["actor"] == "pytest" and v["reason"] for v in hist[:3])
    assert hist[-1]["kind"] == "init"
    r = proxy.admin("POST", "/routes/rollback", json={"reason": "undo canary"})
    assert r.status_code == 200
    assert proxy.admin("GET", "/routes").json()["routes"][0]["mode"] == "new"
    r = proxy.admin("POST", "/routes/rollback", json={"to": v_shadow, "reason": "back to shadow"})
    assert r.status_code == 200
    table = proxy.admin("GET", "/routes").json()
    assert table["routes"][0]["mode"] == "shadow" and table["live_version"] == table["version"]
    last = proxy.admin("GET", "/routes/history?limit=1").json()["versions"][0]
    assert last["kind"] == "rollback" and last["restored_from"] == v_shadow and last["reason"] == "back to shadow"
    assert proxy.admin("POST", "/routes/rollback", json={"to": 9999, "reason": "x"}).status_code == 404
    # a no-op change is refused instead of adding an empty version
    assert proxy.admin("POST", "/routes/rollback", json={"to": v_shadow, "reason": "x"}).status_code == 409


def test_apply_dry_run_shows_diff_without_changing(proxy: ProxyProc) -> None:
    table = {"routes": [{"methods": ["GET"], "path": "/x/", "mode": "new", "service": "pricing"}]}
    version = proxy.admin("GET", "/routes").json()["version"]
    r = proxy.admin("PUT", "/routes", json={"table": table, "dry_run": True})
    assert r.json()["changes"][0]["change"] == "added"
    assert proxy.admin("GET", "/routes").json()["version"] == version
    assert proxy.admin("PUT", "/routes", json={"table": table, "reason": ""}).status_code == 400  # reason required


def test_apply_if_version_refuses_a_table_read_before_a_later_change(proxy: ProxyProc) -> None:
    """A table computed from version N (the plan's step, an exported file)
    does not overwrite a change made since: 409 with the live version."""
    read = proxy.admin("GET", "/routes").json()["version"]
    mine = {"routes": [{"methods": ["GET"], "path": "/x/", "mode": "new", "service": "pricing"}]}
    theirs = {"routes": [{"methods": ["GET"], "path": "/y/", "mode": "shadow", "service": "pricing"}]}
    assert proxy.admin("PUT", "/routes", json={"table": theirs, "reason": "someone else"}).status_code == 200
    stale = proxy.admin("PUT", "/routes", json={"table": mine, "reason": "mine", "if_version": read})
    assert stale.status_code == 409 and stale.json()["live_version"] == read + 1, stale.text
    assert [r["path"] for r in proxy.admin("GET", "/routes").json()["routes"]] == ["/y/"]
    fresh = proxy.admin("PUT", "/routes", json={"table": mine, "reason": "mine", "if_version": read + 1})
    assert fresh.status_code == 200 and fresh.json()["version"] == read + 2, fresh.text
    bad = proxy.admin("PUT", "/routes", json={"table": mine, "reason": "x", "if_version": "latest"})
    assert bad.status_code == 400 and "if_version" in bad.json()["error"]
