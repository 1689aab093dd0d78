"""Sliding-window health of routes that declare limits (auto-rollback).

The forwarder records each answer of the new service (error?, latency) and
the shadow runner each comparison (mismatch?). ``breaches`` is evaluated
once a second by the app, never on the request path.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from strangler_proxy.routing import Mode, Route, RouteTable

MAX_EVENTS = 20000


class RouteHealth:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.answers: dict[str, deque[tuple[float, bool, float]]] = {}
        self.shadows: dict[str, deque[tuple[float, bool]]] = {}

    def record(self, key: str, error: bool, latency_s: float) -> None:
        d = self.answers.get(key)
        if d is None:
            d = self.answers[key] = deque(maxlen=MAX_EVENTS)
        d.append((self._clock(), error, latency_s))

    def record_shadow(self, key: str, mismatch: bool) -> None:
        d = self.shadows.get(key)
        if d is None:
            d = self.shadows[key] = deque(maxlen=MAX_EVENTS)
        d.append((self._clock(), mismatch))

    def forget(self, key: str) -> None:
        self.answers.pop(key, None)
        self.shadows.pop(key, None)

    def breach(self, route: Route) -> str | None:
        """A human-readable reason if this route is over one of its limits."""
        lim = route.limits
        if not lim.any() or route.mode in (Mode.LEGACY, Mode.RETIRED):
            return None
        since = self._clock() - lim.window_s
        answers = [a for a in self.answers.get(route.key, ()) if a[0] >= since]
        if len(answers) >= lim.min_requests:
            errors = sum(1 for a in answers if a[1])
            rate = errors / len(answers)
            if lim.error_rate is not None and rate > lim.error_rate:
                return f"error rate {rate:.1%} > {lim.error_rate:.1%} over {len(answers)} requests in {lim.window_s:g}s"
            if lim.p99_ms is not None:
                lat = sorted(a[2] for a in answers)
                p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
                if p99 > lim.p99_ms:
                    return f"p99 latency {p99:.1f} ms > {lim.p99_ms:g} ms over {len(answers)} requests"
        shadows = [s for s in self.shadows.get(route.key, ()) if s[0] >= since]
        if lim.mismatch_rate is not None and len(shadows) >= lim.min_requests:
            rate = sum(1 for s in shadows if s[1]) / len(shadows)
            if rate > lim.mismatch_rate:
                return f"shadow mismatch rate {rate:.1%} > {lim.mismatch_rate:.1%} over {len(shadows)} comparisons"
        return None

    def breaches(self, table: RouteTable) -> list[tuple[Route, str]]:
        out = []
        for route in table.routes:
            reason = self.breach(route)
            if reason:
                out.append((route, reason))
        return out
