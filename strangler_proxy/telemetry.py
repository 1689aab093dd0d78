"""What the forwarder reports per request: counters, histograms and logs.

Kept apart from the forwarder so its request path reads as decisions and
bytes, and so the metric names and labels (which dashboards and alerts
depend on) are written in one place.
"""

from __future__ import annotations

import logging
import time

from strangler_proxy.breaker import STATE_VALUE, CircuitBreaker
from strangler_proxy.metrics import Metrics

log = logging.getLogger("strangler_proxy.forwarding")


class ForwardingTelemetry:
    def __init__(self, metrics: Metrics, *, access_log: bool) -> None:
        self.metrics = metrics
        self.access_log = access_log

    def refused(self, status: int, reason: str) -> None:
        """A request refused before any upstream was contacted."""
        self.metrics.inc("strangler_refused_total", (("status", str(status)), ("reason", reason[:60])))
        log.info("refused request", extra={"status": status, "reason": reason})

    def answered(
        self, route_key: str, upstream: str, status: int, started: float, rid: bytes, method: str, path: str
    ) -> None:
        """One answer written: count, time, and log it (always for 5xx)."""
        elapsed = time.monotonic() - started
        m = self.metrics
        labels = (("route", route_key), ("upstream", upstream))
        m.inc("strangler_requests_total", (*labels, ("code", f"{status // 100}xx")))
        m.observe("strangler_request_duration_seconds", labels, elapsed)
        if self.access_log or status >= 500:
            log.info(
                "request",
                extra={
                    "request_id": rid.decode(),
                    "method": method,
                    "path": path,
                    "route": route_key,
                    "upstream": upstream,
                    "status": status,
                    "ms": round(elapsed * 1000, 3),
                },
            )

    def upstream_error(self, upstream: str) -> None:
        self.metrics.inc("strangler_upstream_errors_total", (("upstream", upstream),))

    def fallback(self, route_key: str, service: str, reason: str) -> None:
        self.metrics.inc("strangler_fallbacks_total", (("route", route_key), ("upstream", service), ("reason", reason)))

    def writes_moved_replay(self, route_key: str, refused_by: str) -> None:
        """A write refused as ``writes_moved`` by a side that lost the writes
        in a flip, sent again to the new owner."""
        self.metrics.inc("strangler_writes_replayed_total", (("route", route_key), ("refused_by", refused_by)))

    def breaker(self, service: str, breaker: CircuitBreaker) -> None:
        self.metrics.set("strangler_breaker_state", (("upstream", service),), STATE_VALUE[breaker.state])

    def shadow_skipped(self, route_key: str) -> None:
        self.metrics.inc("strangler_shadow_total", (("route", route_key), ("outcome", "skipped")))
