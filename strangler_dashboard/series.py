"""A short history of the proxy's counters, and the figures charts are drawn from.

The proxy's counters are cumulative since it started; a chart of "what
happens now" needs differences between samples. The collector adds one
sample every few seconds to a :class:`History` (bounded in age and count);
these pure functions turn a pair of samples into per-route figures and a run
of samples into a timeline. A counter that went down means the proxy
restarted: its new value is then the increase.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from migration_plan.figures import histogram_quantile_ms
from strangler_dashboard.prometheus import Series, label

LEGACY = "legacy"
#: Outcomes that count as a comparison made (the plan's gates count the same way).
COMPARED = ("match", "mismatch", "noise")


@dataclass(frozen=True)
class Sample:
    """The proxy's summed series at one wall-clock time (unix seconds)."""

    at: float
    series: Series


class History:
    """Samples of the last ``keep_s`` seconds, at most ``max_samples`` of them
    (so memory stays bounded whatever the sampling interval)."""

    def __init__(self, keep_s: float = 1800.0, max_samples: int = 1000) -> None:
        self.keep_s = keep_s
        self._samples: deque[Sample] = deque(maxlen=max_samples)

    def add(self, sample: Sample) -> None:
        self._samples.append(sample)
        while self._samples and sample.at - self._samples[0].at > self.keep_s:
            self._samples.popleft()

    def samples(self) -> list[Sample]:
        return list(self._samples)

    def latest(self) -> Sample | None:
        return self._samples[-1] if self._samples else None


def increase(old: Series, new: Series) -> Series:
    """``new - old`` per series; a series that went down restarted from 0."""
    out: Series = {}
    for key, value in new.items():
        before = old.get(key, 0.0)
        out[key] = value - before if value >= before else value
    return out


def quantile_ms(q: float, buckets: dict[float, float]) -> float | None:
    """The ``q`` quantile in ms of cumulative histogram ``buckets`` (upper
    bound -> count), rounded to the µs: the plan's own computation, so the
    page and the gates agree."""
    value = histogram_quantile_ms(q, buckets)
    return None if value is None else round(value, 3)


@dataclass
class UpstreamFigures:
    """One upstream's answers on one route over a window."""

    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)

    def to_json(self, seconds: float) -> dict[str, Any]:
        return {
            "requests": int(self.requests),
            "rps": round(self.requests / seconds, 3) if seconds > 0 else None,
            "errors": int(self.errors),
            "error_rate": round(self.errors / self.requests, 6) if self.requests else None,
            "p50_ms": quantile_ms(0.5, self.buckets),
            "p99_ms": quantile_ms(0.99, self.buckets),
        }


@dataclass
class RouteWindow:
    """One route's figures between two samples."""

    upstreams: dict[str, UpstreamFigures] = field(default_factory=dict)
    shadow: dict[str, float] = field(default_factory=dict)
    fallbacks: float = 0.0

    @property
    def mismatch_rate(self) -> float | None:
        compared = sum(self.shadow.get(o, 0.0) for o in COMPARED)
        return round(self.shadow.get("mismatch", 0.0) / compared, 6) if compared else None

    def to_json(self, seconds: float) -> dict[str, Any]:
        return {
            "seconds": round(seconds, 3),
            "upstreams": {name: u.to_json(seconds) for name, u in sorted(self.upstreams.items())},
            "shadow": {k: int(v) for k, v in sorted(self.shadow.items())},
            "shadow_compared": int(sum(self.shadow.get(o, 0.0) for o in COMPARED)),
            "mismatch_rate": self.mismatch_rate,
            "fallbacks": int(self.fallbacks),
        }


def route_windows(delta: Series) -> dict[str, RouteWindow]:
    """Every route's figures in a difference of two samples, in one pass."""
    routes: dict[str, RouteWindow] = {}
    for key, value in delta.items():
        route = label(key, "route")
        if route is None:
            continue
        window = routes.setdefault(route, RouteWindow())
        name = key[0]
        if name == "strangler_shadow_total":
            outcome = label(key, "outcome") or "?"
            window.shadow[outcome] = window.shadow.get(outcome, 0.0) + value
            continue
        if name == "strangler_fallbacks_total":
            window.fallbacks += value
            continue
        upstream = label(key, "upstream")
        if upstream is None:
            continue
        figures = window.upstreams.setdefault(upstream, UpstreamFigures())
        if name == "strangler_requests_total":
            figures.requests += value
            if label(key, "code") == "5xx":
                figures.errors += value
        elif name == "strangler_request_duration_seconds_bucket":
            le = label(key, "le") or "+Inf"
            bound = math.inf if le == "+Inf" else float(le)
            figures.buckets[bound] = figures.buckets.get(bound, 0.0) + value
    return routes


def window_figures(samples: list[Sample], seconds: float) -> tuple[float, dict[str, RouteWindow]]:
    """Per-route figures over the last ``seconds`` of ``samples`` (from the
    oldest sample inside that span to the newest): the span really covered,
    and the figures. Empty with fewer than two samples."""
    if len(samples) < 2:
        return 0.0, {}
    newest = samples[-1]
    oldest = next((s for s in samples if newest.at - s.at <= seconds), samples[0])
    if oldest is newest:
        oldest = samples[-2]
    return newest.at - oldest.at, route_windows(increase(oldest.series, newest.series))


def timeline(samples: list[Sample], points: int = 60) -> list[dict[str, Any]]:
    """At most ``points`` consecutive intervals over ``samples``: each with
    its start time, length and every route's figures, for the charts."""
    if len(samples) < 2:
        return []
    step = max(1, math.ceil((len(samples) - 1) / points))
    picks = samples[::-1][::step][::-1]
    if picks[0] is not samples[0] and len(picks) < points + 1:
        picks.insert(0, samples[0])
    out = []
    for before, after in itertools.pairwise(picks):
        seconds = after.at - before.at
        if seconds <= 0:
            continue
        windows = route_windows(increase(before.series, after.series))
        out.append(
            {
                "at": after.at,
                "seconds": round(seconds, 3),
                "routes": {k: w.to_json(seconds) for k, w in windows.items()},
            }
        )
    return out
