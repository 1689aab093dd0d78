"""The figures the dashboard draws, from text rendered by the proxy's own
``Metrics`` (so a change of the exposition format breaks these tests, not
the page)."""

from __future__ import annotations

import math

import pytest

from strangler_dashboard.collector import is_auto_rollback, traffic_share, trim_mismatch
from strangler_dashboard.prometheus import parse
from strangler_dashboard.series import History, Sample, increase, quantile_ms, route_windows, timeline, window_figures
from strangler_proxy.metrics import Metrics, render

RATE = "GET,HEAD /api/items/{id}/rate/"


def _metrics(legacy: int, new: int, errors: int, mismatches: int, matches: int, seconds: float = 0.004) -> Metrics:
    m = Metrics()
    route = ("route", RATE)
    for _ in range(legacy):
        m.inc("strangler_requests_total", (route, ("upstream", "legacy"), ("code", "2xx")))
        m.observe("strangler_request_duration_seconds", (route, ("upstream", "legacy")), seconds)
    for i in range(new):
        code = "5xx" if i < errors else "2xx"
        m.inc("strangler_requests_total", (route, ("upstream", "pricing"), ("code", code)))
        m.observe("strangler_request_duration_seconds", (route, ("upstream", "pricing")), seconds * 2)
    m.inc("strangler_shadow_total", (route, ("outcome", "mismatch")), mismatches)
    m.inc("strangler_shadow_total", (route, ("outcome", "match")), matches)
    return m


def test_parse_sums_workers_and_keeps_labels() -> None:
    one, two = _metrics(3, 1, 0, 0, 0), _metrics(2, 1, 1, 0, 0)
    text = render({"101": one.snapshot(), "202": two.snapshot()})
    assert 'worker="101"' in text
    series = parse(text)
    key = ("strangler_requests_total", (("code", "2xx"), ("route", RATE), ("upstream", "legacy")))
    assert series[key] == 5.0
    assert not any(k[0].startswith("#") for k in series)


def test_parse_skips_malformed_lines() -> None:
    text = 'strangler_requests_total{route="a",upstream="legacy",code="2xx"} 4\nstrangler_requests_total{route=} x\n'
    assert list(parse(text).values()) == [4.0]


def test_label_escapes_round_trip() -> None:
    m = Metrics()
    m.inc("strangler_shadow_total", (("route", 'GET /a"b\\c'), ("outcome", "match")))
    (key,) = parse(render({"1": m.snapshot()}))
    assert dict(key[1])["route"] == 'GET /a"b\\c'


def test_route_window_figures() -> None:
    before = parse(render({"1": _metrics(0, 0, 0, 0, 0).snapshot()}))
    after = parse(render({"1": _metrics(90, 10, 2, 3, 97).snapshot()}))
    window = route_windows(increase(before, after))[RATE].to_json(10.0)
    assert window["upstreams"]["legacy"]["requests"] == 90
    assert window["upstreams"]["legacy"]["rps"] == 9.0
    assert window["upstreams"]["pricing"]["error_rate"] == 0.2
    assert window["mismatch_rate"] == 0.03
    assert window["shadow_compared"] == 100
    # 4 ms observations fall in the (2.5 ms, 5 ms] bucket: the quantiles are inside it
    assert 2.5 < window["upstreams"]["legacy"]["p50_ms"] <= 5.0
    assert 5.0 < window["upstreams"]["pricing"]["p99_ms"] <= 10.0


def test_a_counter_that_went_down_restarted() -> None:
    key = ("strangler_requests_total", ())
    assert increase({key: 100.0}, {key: 7.0}) == {key: 7.0}
    assert increase({key: 100.0}, {key: 107.0}) == {key: 7.0}


@pytest.mark.parametrize(
    ("buckets", "q", "expected"),
    [
        ({0.01: 0.0, 0.1: 10.0, math.inf: 10.0}, 0.5, 55.0),
        ({0.01: 10.0, math.inf: 10.0}, 0.99, 9.9),
        ({0.01: 0.0, math.inf: 5.0}, 0.5, 10.0),  # above the last bound: that bound
        ({0.01: 0.0, math.inf: 0.0}, 0.5, None),
    ],
)
def test_quantile_interpolates_like_promql(buckets: dict[float, float], q: float, expected: float | None) -> None:
    assert quantile_ms(q, buckets) == expected


def test_history_is_bounded_in_age_and_count() -> None:
    history = History(keep_s=10.0, max_samples=5)
    for t in range(20):
        history.add(Sample(float(t), {}))
    assert [s.at for s in history.samples()] == [15.0, 16.0, 17.0, 18.0, 19.0]
    aged = History(keep_s=3.0, max_samples=100)
    for t in range(10):
        aged.add(Sample(float(t), {}))
    assert [s.at for s in aged.samples()] == [6.0, 7.0, 8.0, 9.0]


def _samples(n: int) -> list[Sample]:
    out = []
    for i in range(n):
        out.append(Sample(1000.0 + 2 * i, parse(render({"1": _metrics(i, 0, 0, 0, i).snapshot()}))))
    return out


def test_timeline_has_at_most_the_points_asked_and_covers_the_history() -> None:
    samples = _samples(200)
    points = timeline(samples, points=60)
    assert 1 <= len(points) <= 60
    assert points[-1]["at"] == samples[-1].at
    covered = sum(p["seconds"] for p in points)
    assert covered == pytest.approx(samples[-1].at - samples[0].at)
    total = sum(p["routes"][RATE]["upstreams"]["legacy"]["requests"] for p in points)
    assert total == 199


def test_window_figures_use_only_the_span_asked() -> None:
    samples = _samples(50)  # 98 s of history
    seconds, windows = window_figures(samples, 20.0)
    assert seconds == 20.0
    assert windows[RATE].upstreams["legacy"].requests == 10  # one more per sample, 10 samples
    assert window_figures(samples[:1], 20.0) == (0.0, {})


def test_traffic_share_counts_new_services_not_legacy_or_retired() -> None:
    windows = {
        "a": {"upstreams": {"legacy": {"requests": 60}, "pricing": {"requests": 30}}},
        "b": {"upstreams": {"retired": {"requests": 10}, "market": {"requests": 10}}},
    }
    share = traffic_share(windows)
    assert share["requests"] == 100 and share["served_by_new"] == 40 and share["share_new"] == 0.4
    assert traffic_share({})["share_new"] is None


def test_auto_rollbacks_are_recognised() -> None:
    assert is_auto_rollback({"kind": "auto-rollback", "actor": "x"})
    assert is_auto_rollback({"kind": "set", "actor": "strangler-proxy/12 (auto-rollback)"})
    assert not is_auto_rollback({"kind": "rollback", "actor": "ann@dashboard"})


def test_mismatch_bodies_are_cut_but_differences_kept() -> None:
    row = {"legacy_body": "x" * 10_000, "new_body": "{}", "differences": [{"path": "$.a", "legacy": 1, "new": 2}]}
    trimmed = trim_mismatch(row)
    assert len(trimmed["legacy_body"]) == 4001 and trimmed["new_body"] == "{}"
    assert trimmed["differences"] == row["differences"]
