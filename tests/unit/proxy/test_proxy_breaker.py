"""Circuit breaker state machine with an injected clock."""

from __future__ import annotations

from strangler_proxy.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_and_refuses_until_cooldown() -> None:
    clock = Clock()
    b = CircuitBreaker(failures=3, cooldown_s=5, clock=clock)
    for _ in range(2):
        assert b.allow()
        b.record(False)
    assert b.state == CLOSED
    b.record(False)
    assert b.state == OPEN and not b.allow()
    clock.now = 4.9
    assert not b.allow()
    clock.now = 5.0
    assert b.allow() and b.state == HALF_OPEN
    assert not b.allow()  # only one probe at a time


def test_half_open_probe_success_closes_failure_reopens() -> None:
    clock = Clock()
    b = CircuitBreaker(failures=1, cooldown_s=1, clock=clock)
    b.record(False)
    clock.now = 1
    assert b.allow()
    b.record(False)
    assert b.state == OPEN and b.opened_count == 2
    clock.now = 2
    assert b.allow()
    b.record(True)
    assert b.state == CLOSED and b.allow()


def test_error_rate_trips_without_consecutive_run() -> None:
    b = CircuitBreaker(failures=100, error_rate=0.5, window=20, min_calls=20, clock=Clock())
    for i in range(19):
        b.record(i % 2 == 0)
    assert b.state == CLOSED
    b.record(False)
    assert b.state == OPEN


def test_successes_reset_consecutive_count() -> None:
    b = CircuitBreaker(failures=3, error_rate=0.9, clock=Clock())
    for _ in range(10):
        b.record(False)
        b.record(False)
        b.record(True)
    assert b.state == CLOSED
