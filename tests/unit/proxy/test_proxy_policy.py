"""The routing policy: which side serves, and what follows a failure."""

from __future__ import annotations

import pytest

from strangler_proxy.policy import (
    Attempt,
    Decision,
    Outcome,
    Plan,
    after_attempt,
    can_fall_back,
    plan,
    wants_replay,
)
from strangler_proxy.routing import Route, RouteTable

SERVICES = ["pricing"]


def route(**spec: object) -> Route:
    base: dict[str, object] = {"methods": ["GET", "HEAD", "POST", "PUT"], "path": "/x/", "service": "pricing"}
    return RouteTable.from_spec({"routes": [base | spec]}, SERVICES).routes[0]


def test_no_route_and_legacy_routes_go_to_legacy() -> None:
    assert plan(None, "GET", None, None) == Plan(Decision.LEGACY)
    p = plan(route(mode="legacy"), "POST", None, None)
    assert p.decision is Decision.LEGACY and p.target == "legacy"


def test_retired_and_new() -> None:
    assert plan(route(mode="retired", service=None), "GET", None, None).decision is Decision.RETIRED
    p = plan(route(mode="new"), "POST", None, None)
    assert (p.decision, p.target, p.set_cookie) == (Decision.NEW, "pricing", None)


@pytest.mark.parametrize(
    "method, unsafe, expected",
    [
        ("GET", False, Decision.SHADOW),
        ("HEAD", False, Decision.SHADOW),
        ("POST", False, Decision.LEGACY),
        ("POST", True, Decision.SHADOW),
    ],
)
def test_shadow_only_safe_methods_unless_the_route_allows_writes(method: str, unsafe: bool, expected: Decision) -> None:
    p = plan(route(mode="shadow", shadow_unsafe=unsafe), method, None, None)
    assert p.decision is expected and p.target == "legacy"


def test_canary_follows_the_identity_and_mints_a_uid_only_for_anonymous_clients() -> None:
    everyone = route(mode="canary", weight=100)
    nobody = route(mode="canary", weight=0)
    p = plan(everyone, "GET", b"Bearer u1", None)
    assert (p.decision, p.target, p.set_cookie) == (Decision.NEW, "pricing", None)
    p = plan(nobody, "GET", b"Bearer u1", None)
    assert (p.decision, p.target, p.set_cookie) == (Decision.LEGACY, "legacy", None)
    p = plan(nobody, "GET", None, b"strangler_uid=0123456789abcdef")
    assert p.set_cookie is None
    p = plan(nobody, "GET", None, None)
    assert p.decision is Decision.LEGACY and p.set_cookie is not None and len(p.set_cookie) == 32
    # sticky: the same identity lands on the same side every time at any weight
    half = route(mode="canary", weight=50)
    sides = {plan(half, "GET", b"Bearer u%d" % i, None).target for i in range(200) for _ in range(2)}
    assert sides == {"legacy", "pricing"}
    assert all(len({plan(half, "GET", b"Bearer u%d" % i, None).target for _ in range(3)}) == 1 for i in range(50))


def test_replay_is_wanted_for_shadow_and_for_idempotent_fallback() -> None:
    new = route(mode="new")
    assert wants_replay(plan(new, "GET", None, None), new, "GET")
    assert wants_replay(plan(new, "PUT", None, None), new, "PUT")
    assert not wants_replay(plan(new, "POST", None, None), new, "POST")
    no_fallback = route(mode="new", fallback=False)
    assert not wants_replay(plan(no_fallback, "GET", None, None), no_fallback, "GET")
    shadow = route(mode="shadow", shadow_unsafe=True)
    assert wants_replay(plan(shadow, "POST", None, None), shadow, "POST")
    assert not wants_replay(plan(None, "GET", None, None), None, "GET")


def test_fallback_needs_the_flag_an_idempotent_method_and_the_body_in_hand() -> None:
    r = route(mode="new")
    assert can_fall_back(r, "GET", True)
    assert not can_fall_back(r, "GET", False)  # streamed body: already gone
    assert not can_fall_back(r, "POST", True)
    assert not can_fall_back(route(mode="new", fallback=False), "GET", True)


@pytest.mark.parametrize(
    "attempt, fallback, outcome, status",
    [
        (Attempt.OK, True, Outcome.SERVE_NEW, None),
        (Attempt.OK, False, Outcome.SERVE_NEW, None),
        (Attempt.STATUS_5XX, True, Outcome.FALL_BACK, None),
        (Attempt.STATUS_5XX, False, Outcome.SERVE_NEW, None),  # the 5xx is passed through
        (Attempt.BREAKER_OPEN, True, Outcome.FALL_BACK, None),
        (Attempt.BREAKER_OPEN, False, Outcome.BREAKER_OPEN, 503),
        (Attempt.TIMEOUT, True, Outcome.FALL_BACK, None),
        (Attempt.TIMEOUT, False, Outcome.TIMEOUT, 504),
        (Attempt.ERROR, True, Outcome.FALL_BACK, None),
        (Attempt.ERROR, False, Outcome.ERROR, 502),
    ],
)
def test_after_attempt(attempt: Attempt, fallback: bool, outcome: Outcome, status: int | None) -> None:
    got = after_attempt(attempt, can_fall_back=fallback)
    assert got is outcome
    if status is not None:
        assert got.status == status


def test_fallback_reasons_are_the_metric_labels() -> None:
    assert {a.value for a in Attempt if a is not Attempt.OK} == {"5xx", "breaker_open", "timeout", "error"}
