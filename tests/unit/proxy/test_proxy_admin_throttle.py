"""``AuthThrottle``: the token bucket of failed admin token attempts, on a fake clock."""

from __future__ import annotations

from strangler_proxy.admin_server import AuthThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_peer_gets_its_burst_then_waits_for_one_attempt_to_come_back() -> None:
    clock = Clock()
    throttle = AuthThrottle(burst=3, refill_s=6.0, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1") == 0
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 6
    clock.now += 4.5
    assert throttle.retry_after("10.0.0.1") == 2  # 1.5 s left, rounded up
    clock.now += 1.5
    assert throttle.retry_after("10.0.0.1") == 0
    assert throttle.retry_after("10.0.0.2") == 0, "other addresses are not affected"


def test_a_full_bucket_is_forgotten_and_the_table_is_bounded() -> None:
    clock = Clock()
    throttle = AuthThrottle(burst=2, refill_s=1.0, clock=clock, max_peers=3)
    throttle.failed("a")
    clock.now += 10
    assert throttle.retry_after("a") == 0 and "a" not in throttle._buckets
    for peer in ("p1", "p2", "p3", "p4"):
        throttle.failed(peer)
        throttle.failed(peer)
    assert list(throttle._buckets) == ["p2", "p3", "p4"], "the least recently failing is forgotten first"
