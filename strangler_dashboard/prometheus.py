"""The Prometheus text exposition of the proxy, parsed into summed series.

The proxy renders one line per worker when it runs several (a ``worker``
label); the dashboard wants one figure per route and upstream, so the
``worker`` label is dropped and values with otherwise equal labels are added.
Pure: unit-tested on text rendered by the proxy's own ``Metrics``.
"""

from __future__ import annotations

from collections import defaultdict

from migration_plan.figures import prometheus_labels

#: (metric name, sorted label pairs without ``worker``).
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
Series = dict[SeriesKey, float]

#: The metric families the dashboard reads; everything else is skipped early.
WANTED = (
    "strangler_requests_total",
    "strangler_request_duration_seconds_bucket",
    "strangler_shadow_total",
    "strangler_fallbacks_total",
    "strangler_auto_rollbacks_total",
    "strangler_breaker_state",
)


def parse(text: str, wanted: tuple[str, ...] = WANTED) -> Series:
    """Summed series of ``text``; malformed lines are skipped, not fatal
    (a dashboard that stops on one odd line shows nothing at all)."""
    out: Series = defaultdict(float)
    for line in text.splitlines():
        if not line or line.startswith("#") or not line.startswith(wanted):
            continue
        head, _, raw = line.rpartition(" ")
        name, brace, rest = head.partition("{")
        try:
            value = float(raw)
            labels = prometheus_labels(rest[:-1]) if brace else {}
        except (ValueError, IndexError):
            continue
        labels.pop("worker", None)
        out[(name, tuple(sorted(labels.items())))] += value
    return dict(out)


def label(key: SeriesKey, name: str) -> str | None:
    """The value of label ``name`` in a series key, or None."""
    for k, v in key[1]:
        if k == name:
            return v
    return None
