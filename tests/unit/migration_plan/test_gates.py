"""Gate logic on figures: the metrics the proxy renders, windows, each gate's verdict."""

from __future__ import annotations

import pytest

from migration_plan.figures import RouteCounters, figures, p99_ms, parse_prometheus, route_counters, since
from migration_plan.gates import ContextFigures, all_passed, evaluate, evaluate_gate
from strangler_proxy.metrics import Metrics, render

RATE = "GET /api/items/{id}/rate/"


def proxy_metrics(
    *,
    legacy: int,
    new: int,
    new_5xx: int = 0,
    shadow: dict[str, int] | None = None,
    fallbacks: int = 0,
    new_seconds: float = 0.004,
    legacy_seconds: float = 0.002,
) -> str:
    """Metrics as the proxy renders them (its own Metrics class), two workers."""
    workers = {}
    for worker in ("1", "2"):
        m = Metrics()
        for _ in range(legacy // 2):
            m.inc("strangler_requests_total", (("route", RATE), ("upstream", "legacy"), ("code", "2xx")))
            m.observe("strangler_request_duration_seconds", (("route", RATE), ("upstream", "legacy")), legacy_seconds)
        for i in range(new // 2):
            code = "5xx" if i < new_5xx // 2 else "2xx"
            m.inc("strangler_requests_total", (("route", RATE), ("upstream", "pricing"), ("code", code)))
            m.observe("strangler_request_duration_seconds", (("route", RATE), ("upstream", "pricing")), new_seconds)
        for outcome, n in (shadow or {}).items():
            m.inc("strangler_shadow_total", (("route", RATE), ("outcome", outcome)), n / 2)
        if fallbacks:
            m.inc(
                "strangler_fallbacks_total",
                (("route", RATE), ("upstream", "pricing"), ("reason", "5xx")),
                fallbacks / 2,
            )
        m.inc("strangler_requests_total", (("route", "default"), ("upstream", "legacy"), ("code", "2xx")), 99)
        workers[worker] = m.snapshot()
    return render(workers)


def test_counters_sum_the_workers_and_keep_routes_apart() -> None:
    c = route_counters(parse_prometheus(proxy_metrics(legacy=10, new=4, new_5xx=2)), RATE)
    assert c.requests == {"legacy": {"2xx": 10.0}, "pricing": {"2xx": 2.0, "5xx": 2.0}}
    f = figures(c, "pricing")
    assert (f.new_requests, f.new_errors, f.legacy_requests) == (4, 2, 10)
    assert f.new_error_rate == 0.5


def test_a_stage_window_subtracts_its_baseline_and_survives_a_proxy_restart() -> None:
    before = route_counters(parse_prometheus(proxy_metrics(legacy=10, new=0, shadow={"match": 10})), RATE)
    after = route_counters(parse_prometheus(proxy_metrics(legacy=30, new=0, shadow={"match": 28, "mismatch": 2})), RATE)
    window = figures(since(after, before), "pricing")
    assert (window.shadow_compared, window.shadow_mismatches, window.legacy_requests) == (20, 2, 20)
    assert window.mismatch_rate == 0.1
    restarted = route_counters(parse_prometheus(proxy_metrics(legacy=4, new=0, shadow={"match": 4})), RATE)
    assert figures(since(restarted, after), "pricing").shadow_compared == 4  # counters went down: no baseline


def test_p99_interpolates_inside_the_bucket() -> None:
    assert p99_ms({"0.001": 0, "0.0025": 100, "+Inf": 100}) == pytest.approx(2.485)
    assert p99_ms({"0.001": 0, "+Inf": 0}) is None
    assert p99_ms({"10.0": 0, "+Inf": 5}) == 10_000.0  # beyond the last bound: the bound


SHADOW_GATES = {"min_shadow_requests": 20, "max_mismatch_rate": 0.05, "max_error_rate": 0.01}


def shadow_figures(match: int, mismatch: int = 0, error: int = 0) -> RouteCounters:
    return route_counters(
        parse_prometheus(
            proxy_metrics(legacy=match + mismatch, new=0, shadow={"match": match, "mismatch": mismatch, "error": error})
        ),
        RATE,
    )


def test_shadow_gates_pass_on_clean_traffic_and_fail_each_on_its_own_figure() -> None:
    ctx = ContextFigures()
    good = evaluate(SHADOW_GATES, figures(shadow_figures(40), "pricing"), ctx)
    assert all_passed(good), good
    few = evaluate(SHADOW_GATES, figures(shadow_figures(10), "pricing"), ctx)
    assert [r.gate for r in few if not r.passed] == ["min_shadow_requests"]
    noisy = evaluate(SHADOW_GATES, figures(shadow_figures(36, mismatch=4), "pricing"), ctx)
    assert [(r.gate, r.figure) for r in noisy if not r.passed] == [("max_mismatch_rate", 0.1)]
    failing = evaluate(SHADOW_GATES, figures(shadow_figures(40, error=2), "pricing"), ctx)
    assert [r.gate for r in failing if not r.passed] == ["max_error_rate"]


def test_canary_gates_compare_new_against_legacy() -> None:
    gates = {"min_new_requests": 10, "max_error_rate_increase": 0.01, "max_p99_ratio": 1.5, "max_p99_ms": 50}
    same = figures(
        route_counters(parse_prometheus(proxy_metrics(legacy=100, new=20, new_seconds=0.002)), RATE), "pricing"
    )
    assert all_passed(evaluate(gates, same, ContextFigures())), evaluate(gates, same, ContextFigures())
    slow = figures(
        route_counters(parse_prometheus(proxy_metrics(legacy=100, new=20, new_seconds=0.08)), RATE), "pricing"
    )
    assert {r.gate for r in evaluate(gates, slow, ContextFigures()) if not r.passed} == {"max_p99_ratio", "max_p99_ms"}
    erring = route_counters(parse_prometheus(proxy_metrics(legacy=100, new=20, new_5xx=2, fallbacks=2)), RATE)
    result = evaluate_gate("max_error_rate_increase", 0.01, figures(erring, "pricing"), ContextFigures())
    assert not result.passed and result.figure == pytest.approx(4 / 22)


def test_an_unmeasured_figure_fails_its_gate_and_says_why() -> None:
    empty = figures(RouteCounters(), "pricing")
    for gate, threshold in {
        "max_mismatch_rate": 0.1,
        "max_error_rate": 0.1,
        "max_p99_ratio": 2.0,
        "max_cdc_lag_s": 5.0,
    }.items():
        result = evaluate_gate(gate, threshold, empty, ContextFigures(cdc_detail="no relay status"))
        assert not result.passed and result.figure is None and result.detail, gate


def test_cdc_lag_and_parity_gates() -> None:
    empty = figures(RouteCounters(), "pricing")
    assert evaluate_gate("max_cdc_lag_s", 5, empty, ContextFigures(cdc_lag_s=0.2)).passed
    assert not evaluate_gate("max_cdc_lag_s", 5, empty, ContextFigures(cdc_lag_s=12.0)).passed
    assert evaluate_gate("parity", True, empty, ContextFigures(parity_differences=0)).passed
    failed = evaluate_gate(
        "parity", True, empty, ContextFigures(parity_differences=3, parity_detail="3 of 200 items differ")
    )
    assert not failed.passed and failed.figure == 3 and "3 of 200" in failed.detail
    assert not evaluate_gate("parity", True, empty, ContextFigures()).passed  # not checked is not a pass


def test_in_shadow_the_new_sides_latency_comes_from_the_timed_shadow_copies() -> None:
    m = Metrics()
    for _ in range(50):
        m.inc("strangler_requests_total", (("route", RATE), ("upstream", "legacy"), ("code", "2xx")))
        m.observe("strangler_request_duration_seconds", (("route", RATE), ("upstream", "legacy")), 0.002)
        m.inc("strangler_shadow_total", (("route", RATE), ("outcome", "match")))
        m.observe("strangler_shadow_duration_seconds", (("route", RATE), ("upstream", "pricing")), 0.02)
    shadowed = figures(route_counters(parse_prometheus(render({"1": m.snapshot()})), RATE), "pricing")
    assert shadowed.new_requests == 0 and shadowed.new_p99_ms is not None
    result = evaluate_gate("max_p99_ratio", 2.0, shadowed, ContextFigures())
    assert not result.passed and result.figure == pytest.approx(shadowed.new_p99_ms / shadowed.legacy_p99_ms)
