"""Per-process Prometheus metrics with a hot-path cost of a dict update.

prometheus-client's labelled children cost several microseconds per call;
at 10k+ req/s in one Python process that is a visible share, so we keep
plain dicts keyed by label tuples and render the text exposition format on
scrape. With several workers each worker's numbers carry a ``worker`` label
(the pid) and ``/_strangler/metrics`` merges the snapshot files workers write
to a shared directory every second.
"""

from __future__ import annotations

import bisect
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import TypedDict

Labels = tuple[tuple[str, str], ...]
#: Labels as a snapshot file carries them (JSON has no tuples): [[key, value], ...].
LabelList = list[list[str]]


class Snapshot(TypedDict):
    """One worker's numbers, as written to (and read back from) its JSON file."""

    counters: list[tuple[str, LabelList, float]]
    gauges: list[tuple[str, LabelList, float]]
    hist: list[tuple[str, LabelList, list[float]]]


BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HELP = {
    "strangler_requests_total": ("counter", "Requests answered, by route, upstream and status class."),
    "strangler_upstream_errors_total": ("counter", "Upstream failures (connect, timeout, 5xx) by upstream."),
    "strangler_request_duration_seconds": (
        "histogram",
        "Time from request head to response end, by route and upstream.",
    ),
    "strangler_refused_total": ("counter", "Requests refused before any upstream, by reason."),
    "strangler_shadow_total": (
        "counter",
        "Shadow comparisons by route and outcome (match, mismatch, noise, error, skipped).",
    ),
    "strangler_shadow_duration_seconds": (
        "histogram",
        "Time of the new service's answer to a shadow copy, by route and upstream.",
    ),
    "strangler_fallbacks_total": (
        "counter",
        "Requests served by legacy after the new service failed or its breaker was open.",
    ),
    "strangler_writes_replayed_total": (
        "counter",
        "Writes refused as writes_moved by the side that lost them in a flip, sent again to the new owner.",
    ),
    "strangler_breaker_state": ("gauge", "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open."),
    "strangler_route_table_version": ("gauge", "Version of the live route table in this process."),
    "strangler_auto_rollbacks_total": ("counter", "Routes flipped back automatically after a limit was breached."),
}


class Metrics:
    def __init__(self) -> None:
        self.counters: dict[tuple[str, Labels], float] = defaultdict(float)
        self.gauges: dict[tuple[str, Labels], float] = {}
        self.hist: dict[tuple[str, Labels], list[float]] = {}

    def inc(self, name: str, labels: Labels, value: float = 1.0) -> None:
        self.counters[(name, labels)] += value

    def set(self, name: str, labels: Labels, value: float) -> None:
        self.gauges[(name, labels)] = value

    def observe(self, name: str, labels: Labels, seconds: float) -> None:
        key = (name, labels)
        h = self.hist.get(key)
        if h is None:
            h = self.hist[key] = [0.0] * (len(BUCKETS) + 2)
        h[bisect.bisect_left(BUCKETS, seconds)] += 1
        h[-1] += seconds

    def snapshot(self) -> Snapshot:
        return {
            "counters": [(n, _label_list(lbls), v) for (n, lbls), v in self.counters.items()],
            "gauges": [(n, _label_list(lbls), v) for (n, lbls), v in self.gauges.items()],
            "hist": [(n, _label_list(lbls), v) for (n, lbls), v in self.hist.items()],
        }

    def write_snapshot(self, directory: Path, worker: str) -> None:
        tmp = directory / f".{worker}.tmp"
        tmp.write_text(json.dumps(self.snapshot()))
        os.replace(tmp, directory / f"{worker}.json")


def _label_list(labels: Labels) -> LabelList:
    return [list(pair) for pair in labels]


def _esc(v: object) -> str:
    return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: LabelList | Labels, extra: Labels = ()) -> str:
    items = [(k, v) for k, v in labels] + list(extra)
    if not items:
        return ""
    return "{" + ",".join(f'{k}="{_esc(v)}"' for k, v in items) + "}"


def render(snapshots: dict[str, Snapshot]) -> str:
    """Prometheus text format for one or more worker snapshots."""
    lines: dict[str, list[str]] = defaultdict(list)
    multi = len(snapshots) > 1
    for worker, snap in sorted(snapshots.items()):
        extra: Labels = (("worker", worker),) if multi else ()
        for name, labels, value in snap.get("counters", []):
            lines[str(name)].append(f"{name}{_labels(labels, extra)} {value}")
        for name, labels, value in snap.get("gauges", []):
            lines[str(name)].append(f"{name}{_labels(labels, extra)} {value}")
        for name, labels, h in snap.get("hist", []):
            counts = list(h)
            cum = 0.0
            for i, le in enumerate(BUCKETS):
                cum += counts[i]
                lines[str(name)].append(f"{name}_bucket{_labels(labels, (*extra, ('le', repr(le))))} {cum}")
            cum += counts[len(BUCKETS)]
            lines[str(name)].append(f"{name}_bucket{_labels(labels, (*extra, ('le', '+Inf')))} {cum}")
            lines[str(name)].append(f"{name}_count{_labels(labels, extra)} {cum}")
            lines[str(name)].append(f"{name}_sum{_labels(labels, extra)} {counts[-1]}")
    out: list[str] = []
    for name in sorted(lines):
        kind, text = HELP.get(name, ("untyped", name))
        out.append(f"# HELP {name} {text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(lines[name])
    return "\n".join(out) + "\n"
