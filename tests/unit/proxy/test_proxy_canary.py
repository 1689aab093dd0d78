"""Canary bucketing: sticky per identity, monotonic in the weight."""

from __future__ import annotations

from strangler_proxy import canary


def test_same_identity_same_side() -> None:
    assert all(
        canary.goes_to_new("auth:Bearer u1", "GET /x/", 40) == canary.goes_to_new("auth:Bearer u1", "GET /x/", 40)
        for _ in range(10)
    )


def test_raising_the_weight_only_moves_users_to_new() -> None:
    users = [f"uid:{i:032x}" for i in range(2000)]
    previous = dict.fromkeys(users, False)
    for weight in range(0, 101, 5):
        now = {u: canary.goes_to_new(u, "GET /x/", weight) for u in users}
        assert all(now[u] for u in users if previous[u]), f"someone moved back at {weight}"
        share = sum(now.values()) / len(users)
        assert abs(share - weight / 100) < 0.05, (weight, share)
        previous = now
    assert all(previous.values())


def test_weight_zero_and_hundred_are_absolute() -> None:
    assert not any(canary.goes_to_new(f"u{i}", "r", 0) for i in range(500))
    assert all(canary.goes_to_new(f"u{i}", "r", 100) for i in range(500))


def test_identity_prefers_authorization_then_cookie_else_new_cookie() -> None:
    assert canary.identity_of("Bearer abc", "strangler_uid=0123456789abcdef") == ("auth:Bearer abc", None)
    assert canary.identity_of(None, "a=b; strangler_uid=0123456789abcdef") == ("uid:0123456789abcdef", None)
    identity, new = canary.identity_of(None, "strangler_uid=bad!")
    assert new is not None and identity == "uid:" + new
    assert b"HttpOnly" in canary.set_cookie_header(new)
