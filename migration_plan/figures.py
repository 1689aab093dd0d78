"""Live figures per route, from the proxy's Prometheus metrics.

The proxy already counts what the gates need (``strangler_proxy.metrics``):
``strangler_requests_total{route, upstream, code}``,
``strangler_request_duration_seconds{route, upstream}`` (histogram),
``strangler_shadow_total{route, outcome}`` and
``strangler_fallbacks_total{route, upstream, reason}``, and (added for the
plan) ``strangler_shadow_duration_seconds{route, upstream}``: the new side's
latency while it is only shadowed. Its counters are
cumulative since the proxy process started, so a stage's figures are the
difference between now and a *baseline* taken when the stage was entered
(``migration_plan.control``); a counter that went down means the proxy
restarted, and the baseline then counts as zero.

Pure functions over parsed samples: unit-tested without a proxy.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

LEGACY = "legacy"


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse_prometheus(text: str) -> list[Sample]:
    """The samples of a Prometheus text exposition (comments skipped)."""
    out: list[Sample] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, brace, rest = head.partition("{")
        try:
            labels = prometheus_labels(rest.rstrip("}")) if brace else {}
            out.append(Sample(name, labels, float(value)))
        except (ValueError, IndexError):  # a malformed line is skipped, not fatal
            continue
    return out


def prometheus_labels(text: str) -> dict[str, str]:
    """``a="x",b="y\\"z"`` -> ``{"a": "x", "b": 'y"z'}`` (the escapes the proxy
    writes); ValueError or IndexError for a malformed list. The dashboard's
    parser uses it too."""
    labels: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        eq = text.index("=", i)
        key = text[i:eq].strip().lstrip(",").strip()
        if text[eq + 1] != '"':
            raise ValueError("label value must be quoted")
        j = eq + 2
        chars: list[str] = []
        while text[j] != '"':
            if text[j] == "\\":
                j += 1
                chars.append("\n" if text[j] == "n" else text[j])
            else:
                chars.append(text[j])
            j += 1
        labels[key] = "".join(chars)
        i = j + 1
    return labels


@dataclass
class RouteCounters:
    """Cumulative counters of one route, summed over workers. JSON-able, so
    a baseline can be stored and subtracted later."""

    requests: dict[str, dict[str, float]] = field(default_factory=dict)  # upstream -> code class -> n
    buckets: dict[str, dict[str, float]] = field(default_factory=dict)  # upstream -> le -> cumulative n
    shadow: dict[str, float] = field(default_factory=dict)  # outcome -> n
    fallbacks: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"requests": self.requests, "buckets": self.buckets, "shadow": self.shadow, "fallbacks": self.fallbacks}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RouteCounters:
        return cls(
            requests={u: dict(v) for u, v in (data.get("requests") or {}).items()},
            buckets={u: dict(v) for u, v in (data.get("buckets") or {}).items()},
            shadow=dict(data.get("shadow") or {}),
            fallbacks=float(data.get("fallbacks") or 0.0),
        )

    def total(self) -> float:
        return sum(n for codes in self.requests.values() for n in codes.values()) + sum(self.shadow.values())


def route_counters(samples: Iterable[Sample], route: str) -> RouteCounters:
    """The counters of the route whose key is ``route`` (the proxy's label)."""
    c = RouteCounters()
    requests: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    buckets: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    shadow: dict[str, float] = defaultdict(float)
    for s in samples:
        if s.labels.get("route") != route:
            continue
        if s.name == "strangler_requests_total":
            requests[s.labels["upstream"]][s.labels.get("code", "?")] += s.value
        elif s.name in ("strangler_request_duration_seconds_bucket", "strangler_shadow_duration_seconds_bucket"):
            # Answers and shadow copies alike: the new side's latency in every stage.
            buckets[s.labels["upstream"]][s.labels["le"]] += s.value
        elif s.name == "strangler_shadow_total":
            shadow[s.labels["outcome"]] += s.value
        elif s.name == "strangler_fallbacks_total":
            c.fallbacks += s.value
    c.requests = {u: dict(v) for u, v in requests.items()}
    c.buckets = {u: dict(v) for u, v in buckets.items()}
    c.shadow = dict(shadow)
    return c


def upstream_totals(samples: Iterable[Sample]) -> dict[str, float]:
    """Requests answered per upstream over every route (for the traffic share)."""
    totals: dict[str, float] = defaultdict(float)
    for s in samples:
        if s.name == "strangler_requests_total":
            totals[s.labels.get("upstream", "?")] += s.value
    return dict(totals)


def since(current: RouteCounters, baseline: RouteCounters | None) -> RouteCounters:
    """``current - baseline``; a baseline above the current figures (the proxy
    restarted since) counts as nothing."""
    if baseline is None or _went_down(current, baseline):
        return current

    def minus(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
        return {k: v - b.get(k, 0.0) for k, v in a.items()}

    return RouteCounters(
        requests={u: minus(v, baseline.requests.get(u, {})) for u, v in current.requests.items()},
        buckets={u: minus(v, baseline.buckets.get(u, {})) for u, v in current.buckets.items()},
        shadow=minus(current.shadow, baseline.shadow),
        fallbacks=current.fallbacks - baseline.fallbacks,
    )


def _went_down(current: RouteCounters, baseline: RouteCounters) -> bool:
    pairs = [
        (current.requests.get(u, {}).get(k, 0.0), v) for u, codes in baseline.requests.items() for k, v in codes.items()
    ]
    pairs += [(current.shadow.get(k, 0.0), v) for k, v in baseline.shadow.items()]
    pairs.append((current.fallbacks, baseline.fallbacks))
    return any(now < before for now, before in pairs)


def p99_ms(buckets: Mapping[str, float], q: float = 0.99) -> float | None:
    """The ``q`` quantile in ms of the proxy's cumulative buckets (``le``
    label -> count); see :func:`histogram_quantile_ms`."""
    return histogram_quantile_ms(q, {math.inf if le == "+Inf" else float(le): n for le, n in buckets.items()})


def histogram_quantile_ms(q: float, buckets: Mapping[float, float]) -> float | None:
    """The ``q`` quantile in ms from cumulative histogram buckets (upper
    bound in seconds -> count), linearly interpolated inside its bucket (as
    PromQL's ``histogram_quantile``); None without observations. Above the
    last finite bound it is that bound. The dashboard's charts use it too."""
    bounds = sorted(buckets.items())
    if not bounds or bounds[-1][1] <= 0:
        return None
    rank = q * bounds[-1][1]
    lower, below = 0.0, 0.0
    for bound, cumulative in bounds:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower * 1000
            width = cumulative - below
            share = (rank - below) / width if width > 0 else 1.0
            return (lower + (bound - lower) * share) * 1000
        lower, below = bound, cumulative
    return lower * 1000


@dataclass(frozen=True)
class RouteFigures:
    """What the gates read for one route over one window."""

    shadow_compared: int
    shadow_mismatches: int
    shadow_errors: int
    new_requests: int
    new_errors: int
    legacy_requests: int
    legacy_errors: int
    new_p99_ms: float | None
    legacy_p99_ms: float | None

    @property
    def mismatch_rate(self) -> float | None:
        return self.shadow_mismatches / self.shadow_compared if self.shadow_compared else None

    @property
    def new_error_rate(self) -> float | None:
        """Errors of the new side: its 5xx answers, the requests that fell
        back to legacy, and the shadow calls that failed."""
        calls = self.new_requests + self.shadow_compared + self.shadow_errors
        errors = self.new_errors + self.shadow_errors
        return errors / calls if calls else None

    @property
    def legacy_error_rate(self) -> float | None:
        return self.legacy_errors / self.legacy_requests if self.legacy_requests else None

    def to_json(self) -> dict[str, Any]:
        return {
            "shadow_compared": self.shadow_compared,
            "shadow_mismatches": self.shadow_mismatches,
            "shadow_errors": self.shadow_errors,
            "mismatch_rate": self.mismatch_rate,
            "new_requests": self.new_requests,
            "new_errors": self.new_errors,
            "new_error_rate": self.new_error_rate,
            "legacy_requests": self.legacy_requests,
            "legacy_errors": self.legacy_errors,
            "legacy_error_rate": self.legacy_error_rate,
            "new_p99_ms": self.new_p99_ms,
            "legacy_p99_ms": self.legacy_p99_ms,
        }


def figures(window: RouteCounters, service: str | None) -> RouteFigures:
    """The gate figures of a route from its counters over a window. The new
    side is ``service`` (the upstream label the proxy gives it)."""
    new = window.requests.get(service or "", {}) if service else {}
    legacy = window.requests.get(LEGACY, {})
    compared = sum(window.shadow.get(o, 0.0) for o in ("match", "mismatch", "noise"))
    return RouteFigures(
        shadow_compared=int(compared),
        shadow_mismatches=int(window.shadow.get("mismatch", 0.0)),
        shadow_errors=int(window.shadow.get("error", 0.0)),
        new_requests=int(sum(new.values()) + window.fallbacks),
        new_errors=int(new.get("5xx", 0.0) + window.fallbacks),
        legacy_requests=int(sum(legacy.values())),
        legacy_errors=int(legacy.get("5xx", 0.0)),
        new_p99_ms=p99_ms(window.buckets.get(service or "", {})) if service else None,
        legacy_p99_ms=p99_ms(window.buckets.get(LEGACY, {})),
    )
