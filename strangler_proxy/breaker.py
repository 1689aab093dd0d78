"""Per-upstream circuit breaker: closed -> open -> half-open -> closed.

Opens after ``failures`` consecutive failures, or when the error rate over
the last ``window`` outcomes reaches ``error_rate`` (with at least
``min_calls`` calls). While open, calls are refused until ``cooldown_s`` has
passed; then up to ``probes`` calls go through (half-open): one success
closes it, one failure re-opens it. Time is injected so tests need no sleep.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
STATE_VALUE = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


class CircuitBreaker:
    def __init__(
        self,
        *,
        failures: int = 5,
        error_rate: float = 0.5,
        window: int = 50,
        min_calls: int = 20,
        cooldown_s: float = 2.0,
        probes: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.error_rate = error_rate
        self.min_calls = min_calls
        self.cooldown_s = cooldown_s
        self.probes = probes
        self._clock = clock
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._consecutive = 0
        self.state = CLOSED
        self._opened_at = 0.0
        self._probes_in_flight = 0
        self.opened_count = 0

    def allow(self) -> bool:
        """May a call go to this upstream now? (Counts a half-open probe.)"""
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            if self._clock() - self._opened_at < self.cooldown_s:
                return False
            self.state = HALF_OPEN
            self._probes_in_flight = 0
        if self._probes_in_flight < self.probes:
            self._probes_in_flight += 1
            return True
        return False

    def record(self, ok: bool) -> None:
        if self.state == HALF_OPEN:
            self._probes_in_flight = max(0, self._probes_in_flight - 1)
            if ok:
                self._close()
            else:
                self._open()
            return
        self._outcomes.append(ok)
        self._consecutive = 0 if ok else self._consecutive + 1
        if self.state == CLOSED and (self._consecutive >= self.failures or self._rate_tripped()):
            self._open()

    def _rate_tripped(self) -> bool:
        n = len(self._outcomes)
        return n >= self.min_calls and self._outcomes.count(False) / n >= self.error_rate

    def _open(self) -> None:
        self.state = OPEN
        self._opened_at = self._clock()
        self.opened_count += 1

    def _close(self) -> None:
        self.state = CLOSED
        self._consecutive = 0
        self._outcomes.clear()
