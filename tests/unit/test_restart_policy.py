"""``strangler up``'s restarts: at once the first time, then with a growing
delay, and given up only on a part that keeps dying."""

from __future__ import annotations

from local_stack.restart_policy import Decision, RestartPolicy


def restart_times(policy: RestartPolicy, name: str, start: float, until: float, step: float = 0.5) -> list[float]:
    """When a part found dead every ``step`` seconds (it dies again at once) is restarted."""
    times, now = [], start
    while now < until:
        decision = policy.decide(name, now)
        if decision is Decision.GIVE_UP:
            break
        if decision is Decision.RESTART:
            policy.restarted(name, now)
            times.append(now)
        now += step
    return times


def test_the_first_restart_is_at_once_then_each_waits_twice_as_long() -> None:
    """Found dead every 0.5 s: each wait (0.5, 1, 2, 4 s) counts from when it was found dead."""
    policy = RestartPolicy()
    assert restart_times(policy, "syncback", 0.0, 10.0) == [0.0, 1.0, 2.5, 5.0, 9.5]


def test_a_part_dying_through_a_ten_second_outage_is_not_given_up() -> None:
    """The case that took the stack down: sync-back dying while PostgreSQL restarts."""
    policy = RestartPolicy()
    assert len(restart_times(policy, "syncback", 0.0, 10.0)) == 5
    assert policy.decide("syncback", 10.0) is Decision.WAIT


def test_a_part_that_cannot_start_is_given_up_after_the_limit() -> None:
    policy = RestartPolicy(limit=4)
    assert len(restart_times(policy, "relay", 0.0, 60.0)) == 4
    assert policy.decide("relay", 60.0) is Decision.GIVE_UP


def test_restarts_older_than_the_window_are_forgotten() -> None:
    policy = RestartPolicy(limit=3, window_s=100.0)
    restart_times(policy, "acl", 0.0, 10.0)
    assert policy.decide("acl", 50.0) is Decision.GIVE_UP
    assert policy.decide("acl", 200.0) is Decision.RESTART  # a part that lived long since starts afresh
    assert policy.delay(0) == 0.0 and policy.delay(20) == policy.longest_delay_s


def test_parts_are_counted_apart() -> None:
    policy = RestartPolicy(limit=2)
    restart_times(policy, "acl", 0.0, 10.0)
    assert policy.decide("acl", 10.0) is Decision.GIVE_UP
    assert policy.decide("pricing", 10.0) is Decision.RESTART
