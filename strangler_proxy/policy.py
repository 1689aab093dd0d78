"""Routing policy: which side serves a request, and what to do when the new
service fails. Pure decisions, no I/O, no metrics.

The forwarder asks two questions and acts on the answers:

1. ``plan(route, method, ...)`` before any upstream is contacted: legacy,
   legacy with a shadow call afterwards, the new service, or 410 Gone;
2. ``after_attempt(attempt, can_fall_back=...)`` once the new service was
   tried (or its breaker said no): use its answer, fall back to legacy, or
   answer the client with an error.

Keeping these apart from the byte moving means every combination of mode,
method, fallback flag and failure kind has a unit test without sockets.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from strangler_proxy import canary
from strangler_proxy.routing import IDEMPOTENT_METHODS, Mode, Route

LEGACY = "legacy"
SHADOWED_METHODS = frozenset({"GET", "HEAD"})


class Decision(Enum):
    """Who answers the client."""

    LEGACY = "legacy"
    SHADOW = "shadow"  # legacy answers; the new service is called afterwards and compared
    NEW = "new"  # the route's service answers (legacy may stand in, see ``Outcome``)
    RETIRED = "retired"  # nobody: 410 Gone


@dataclass(frozen=True, slots=True)
class Plan:
    decision: Decision
    service: str | None = None  # the new service (NEW and SHADOW)
    set_cookie: str | None = None  # a freshly minted canary uid for an anonymous client

    @property
    def target(self) -> str:
        """The upstream asked first: the service for NEW, else legacy."""
        return self.service if self.decision is Decision.NEW and self.service else LEGACY


_LEGACY_PLAN = Plan(Decision.LEGACY)
_RETIRED_PLAN = Plan(Decision.RETIRED)


def plan(route: Route | None, method: str, authorization: bytes | None, cookie: bytes | None) -> Plan:
    """Which side serves this request.

    Only canary routes look at the client: its identity (Authorization, else
    our ``strangler_uid`` cookie) picks a sticky bucket; an anonymous client
    without the cookie gets a new uid to set, whichever side it lands on.
    Unsafe methods are shadowed only when the route allows it, since the new
    service would perform the write a second time."""
    if route is None:
        return _LEGACY_PLAN
    mode = route.mode
    if mode is Mode.LEGACY:
        return _LEGACY_PLAN
    if mode is Mode.RETIRED:
        return _RETIRED_PLAN
    if mode is Mode.NEW:
        return Plan(Decision.NEW, route.service) if route.service else _LEGACY_PLAN
    if mode is Mode.SHADOW:
        if method in SHADOWED_METHODS or route.shadow_unsafe:
            return Plan(Decision.SHADOW, route.service)
        return _LEGACY_PLAN
    identity, new_uid = canary.identity_of(
        authorization.decode("latin-1") if authorization else None,
        cookie.decode("latin-1") if cookie else None,
    )
    if route.service and canary.goes_to_new(identity, route.key, route.weight):
        return Plan(Decision.NEW, route.service, set_cookie=new_uid)
    return Plan(Decision.LEGACY, set_cookie=new_uid)


def wants_replay(p: Plan, route: Route | None, method: str) -> bool:
    """Should the request body be buffered (when small) so it can be sent a
    second time: to the new service after legacy (shadow), or to legacy
    after the new service failed (fallback)?"""
    if p.decision is Decision.SHADOW:
        return True
    return p.decision is Decision.NEW and route is not None and route.fallback and method in IDEMPOTENT_METHODS


def can_fall_back(route: Route, method: str, body_buffered: bool) -> bool:
    """Legacy may stand in only for an idempotent request whose body we
    still hold: a streamed body is gone once sent."""
    return route.fallback and method in IDEMPOTENT_METHODS and body_buffered


class Attempt(Enum):
    """What happened when the new service was asked. Values are the
    ``reason`` label of ``strangler_fallbacks_total``."""

    OK = "ok"
    STATUS_5XX = "5xx"
    BREAKER_OPEN = "breaker_open"
    TIMEOUT = "timeout"
    ERROR = "error"


class Outcome(Enum):
    """What the forwarder does next. ``status`` is the client's answer for
    the three failures."""

    SERVE_NEW = "serve_new"  # relay the new service's answer (a 5xx too, when legacy may not stand in)
    FALL_BACK = "fall_back"  # ask legacy instead
    BREAKER_OPEN = "breaker_open"
    TIMEOUT = "timeout"
    ERROR = "error"

    @property
    def status(self) -> int:
        return _FAILURE_STATUS[self]


_FAILURE_STATUS = {Outcome.BREAKER_OPEN: 503, Outcome.TIMEOUT: 504, Outcome.ERROR: 502}
_NO_FALLBACK = {
    Attempt.OK: Outcome.SERVE_NEW,
    Attempt.STATUS_5XX: Outcome.SERVE_NEW,
    Attempt.BREAKER_OPEN: Outcome.BREAKER_OPEN,
    Attempt.TIMEOUT: Outcome.TIMEOUT,
    Attempt.ERROR: Outcome.ERROR,
}


def after_attempt(attempt: Attempt, *, can_fall_back: bool) -> Outcome:
    """Any failure falls back when allowed; otherwise a 5xx answer is
    passed through and the other failures become 503/504/502."""
    if attempt is Attempt.OK:
        return Outcome.SERVE_NEW
    if can_fall_back:
        return Outcome.FALL_BACK
    return _NO_FALLBACK[attempt]
