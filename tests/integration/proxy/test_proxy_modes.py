"""Shadow diffs, canary stickiness, breaker fallback and auto-rollback."""

from __future__ import annotations

import httpx
from proxy_support import ProxyProc, Upstream

from local_stack.processes import wait_until

ROUTE = "GET /api/items/{id}/rate/"


def test_shadow_finds_planted_mismatch_and_ignores_planted_noise(proxy: ProxyProc, pricing: Upstream) -> None:
    proxy.set_route(ROUTE, "shadow", service="pricing")
    for item in ("1", "2", "13", "3", "13"):
        r = httpx.get(proxy.url + f"/api/items/{item}/rate/")
        assert r.status_code == 200 and r.headers["x-strangler-upstream"] == "legacy"
    wait_until(lambda: pricing.count() >= 5, timeout=5, what="5 shadow calls")
    data = wait_until(
        lambda: (d := proxy.admin("GET", "/diffs", params={"route": ROUTE}).json())["counts"].get(ROUTE) == 2 and d,
        timeout=5,
        what="2 mismatches",
    )
    for m in data["mismatches"]:
        assert m["target"] == "/api/items/13/rate/"
        assert [d["path"] for d in m["differences"]] == ["$.rate"]  # as_of (random per call) is noise
        assert "$.as_of" in m["noise"]
        assert '"rate": 114' in m["legacy_body"] and '"rate": 115' in m["new_body"]
    metrics = httpx.get(proxy.admin_url + "/_strangler/metrics").text
    assert f'strangler_shadow_total{{route="{ROUTE}",outcome="mismatch"}} 2.0' in metrics
    assert f'strangler_shadow_total{{route="{ROUTE}",outcome="noise"}} 3.0' in metrics


def test_noise_learned_by_one_comparison_counts_for_comparisons_already_in_flight(
    proxy: ProxyProc, pricing: Upstream
) -> None:
    """Concurrent first requests of a route all differ in ``as_of``; only one
    of them learns it as noise, and none may be reported as a mismatch."""
    import concurrent.futures

    proxy.set_route(ROUTE, "shadow", service="pricing")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(lambda n: httpx.get(proxy.url + f"/api/items/{n % 5 + 1}/rate/").status_code, range(24))
        )
    assert statuses == [200] * 24
    metric = f'strangler_shadow_total{{route="{ROUTE}",outcome="noise"}} 24.0'
    wait_until(lambda: metric in httpx.get(proxy.admin_url + "/_strangler/metrics").text, timeout=5, what=metric)
    assert proxy.admin("GET", "/diffs", params={"route": ROUTE}).json()["counts"].get(ROUTE, 0) == 0


def test_shadow_skips_unsafe_methods_unless_allowed(proxy: ProxyProc, pricing: Upstream) -> None:
    proxy.apply([{"methods": ["POST"], "path": "/orders/", "mode": "shadow", "service": "pricing"}])
    before = pricing.count()
    assert httpx.post(proxy.url + "/orders/", json={"a": 1}).status_code == 200
    proxy.apply(
        [{"methods": ["POST"], "path": "/orders/", "mode": "shadow", "service": "pricing", "shadow_unsafe": True}]
    )
    assert httpx.post(proxy.url + "/orders/", json={"a": 1}).status_code == 200
    # shadow calls go out in order: once the second POST's has arrived, a
    # shadowed first one would have too
    wait_until(lambda: pricing.count() > before, timeout=5, what="the allowed POST shadowed")
    assert pricing.count() == before + 1


def test_canary_is_sticky_and_monotonic(proxy: ProxyProc) -> None:
    proxy.set_route(ROUTE, "canary", service="pricing", weight=30)
    users = [f"Bearer user-{i}" for i in range(120)]

    def sides() -> dict[str, str]:
        out = {}
        with httpx.Client() as c:
            for u in users:
                seen = {
                    c.get(proxy.url + "/api/items/1/rate/", headers={"authorization": u}).headers[
                        "x-strangler-upstream"
                    ]
                    for _ in range(2)
                }
                assert len(seen) == 1, (u, seen)
                out[u] = seen.pop()
        return out

    at30 = sides()
    share30 = sum(s == "pricing" for s in at30.values()) / len(users)
    assert 0.15 < share30 < 0.45, share30
    proxy.set_route(ROUTE, "canary", weight=60)
    at60 = sides()
    assert all(at60[u] == "pricing" for u in users if at30[u] == "pricing"), "a user moved back to legacy"
    assert sum(s == "pricing" for s in at60.values()) > sum(s == "pricing" for s in at30.values())
    # anonymous clients get a cookie and keep their side
    with httpx.Client() as c:
        first = c.get(proxy.url + "/api/items/1/rate/")
        assert "strangler_uid=" in first.headers["set-cookie"]
        side = first.headers["x-strangler-upstream"]
        for _ in range(5):
            r = c.get(proxy.url + "/api/items/1/rate/")
            assert r.headers["x-strangler-upstream"] == side and "set-cookie" not in r.headers


def test_breaker_falls_back_to_legacy_when_new_service_is_killed(proxy: ProxyProc, pricing: Upstream) -> None:
    proxy.set_route(ROUTE, "new", service="pricing")
    assert httpx.get(proxy.url + "/api/items/1/rate/").headers["x-strangler-upstream"] == "pricing"
    pricing.kill()
    with httpx.Client() as c:
        for i in range(30):
            r = c.get(proxy.url + f"/api/items/{i}/rate/")
            assert r.status_code == 200 and r.headers["x-strangler-upstream"] == "legacy", (i, r.status_code)
        # a non-idempotent request cannot be replayed on legacy: it fails fast
        proxy.apply([{"methods": ["POST"], "path": "/orders/", "mode": "new", "service": "pricing"}])
        assert c.post(proxy.url + "/orders/", json={}).status_code in (502, 503)
    status = proxy.admin("GET", "/status").json()
    assert status["breakers"]["pricing"] == "open"
    metrics = httpx.get(proxy.admin_url + "/_strangler/metrics").text
    assert (
        'strangler_fallbacks_total{route="GET /api/items/{id}/rate/",upstream="pricing",reason="breaker_open"}'
        in metrics
    )
    assert 'strangler_breaker_state{upstream="pricing"} 2' in metrics


def test_new_service_5xx_and_timeouts_fall_back(proxy: ProxyProc) -> None:
    proxy.apply([{"methods": ["GET"], "path": "/flaky/", "mode": "new", "service": "pricing", "timeout": 0.3}])
    r = httpx.get(proxy.url + "/flaky/?status=503&only=pricing")
    assert r.status_code == 200 and r.headers["x-strangler-upstream"] == "legacy"
    r = httpx.get(proxy.url + "/flaky/?sleep=1&only=pricing")
    assert r.status_code == 200 and r.headers["x-strangler-upstream"] == "legacy"
    proxy.apply([{"methods": ["GET"], "path": "/flaky/", "mode": "new", "service": "pricing", "fallback": False}])
    assert httpx.get(proxy.url + "/flaky/?status=503&only=pricing").status_code == 503


def test_auto_rollback_on_error_rate_is_audited(proxy: ProxyProc) -> None:
    proxy.set_route(ROUTE, "shadow", service="pricing")
    proxy.apply(
        [
            {
                "methods": ["GET"],
                "path": "/api/items/{id}/rate/",
                "mode": "new",
                "service": "pricing",
                "fallback": False,
                "limits": {"error_rate": 0.2, "window_s": 10, "min_requests": 10},
            }
        ]
    )
    with httpx.Client() as c:
        for _ in range(12):
            c.get(proxy.url + "/api/items/1/rate/?status=500&only=pricing")
    last = wait_until(
        lambda: (
            (v := proxy.admin("GET", "/routes/history?limit=1").json()["versions"][0])["kind"] == "auto-rollback" and v
        ),
        timeout=5,
        what="the auto-rollback",
    )
    assert "error rate" in last["reason"] and "auto-rollback" in last["actor"]
    routes = proxy.admin("GET", "/routes").json()["routes"]
    assert routes[0]["mode"] == "shadow"  # the previous safe mode, not blindly legacy
    assert httpx.get(proxy.url + "/api/items/1/rate/").headers["x-strangler-upstream"] == "legacy"
