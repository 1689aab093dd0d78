"""The request handler: validate, route, ask a side, fall back, relay.

``Forwarder`` implements the server's ``RequestHandler``. Per request it
asks the pure policy (``policy.plan``) who serves, talks to upstreams only
through the ``Upstream`` port, lets ``streaming`` move the bytes and
``telemetry`` count them. Nothing here blocks on the shadow call or on the
database: shadow work and mismatch storage are scheduled after the client's
answer is written.

A request that will reach a new service with ``Authorization: Token ...``
first gets its signed identity line from ``identity.IdentityResolver``
(cached; 503 when it cannot be had); nothing else pays for it. Paths under
``/_internal/`` (the monolith's service API) are 404 here. ``/_strangler/``
is an ordinary path here: the admin API and metrics listen on their own
address (``admin_server``), never on the public port.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from strangler_proxy import canary
from strangler_proxy.breaker import CircuitBreaker
from strangler_proxy.headers import Checked, Refusal, check_request, child_traceparent, forward_headers, new_request_id
from strangler_proxy.identity import IdentityResolver, IdentityUnavailable, is_token
from strangler_proxy.policy import (
    LEGACY,
    Attempt,
    Decision,
    Outcome,
    after_attempt,
    can_fall_back,
    plan,
)
from strangler_proxy.routing import Route, TableHolder
from strangler_proxy.server import ClientConnection, IncomingRequest
from strangler_proxy.streaming import relay_response, send_request
from strangler_proxy.telemetry import ForwardingTelemetry
from strangler_proxy.upstream_port import Exchange, Upstream, UpstreamError, UpstreamTimeout
from strangler_proxy.wire import CONTINUE, request_framing, request_head, simple_response

if TYPE_CHECKING:
    from strangler_proxy.health import RouteHealth
    from strangler_proxy.metrics import Metrics
    from strangler_proxy.settings import ProxySettings
    from strangler_proxy.shadow import ShadowRunner

log = logging.getLogger("strangler_proxy.forwarding")

REPLAY_LIMIT = 64 * 1024
#: The header of a ``409 writes_moved`` refusal (the monolith's and the
#: market's): the side asked does not own the context's writes and wrote
#: nothing, so the write may be sent to the owner instead.
WRITES_MOVED = b"x-strangler-writes-moved"
#: How long such a refusal waits for this process to learn the flip that
#: caused it (the owner row commits with the route version; the table
#: follows by NOTIFY, within about a second at worst).
MOVED_TABLE_WAIT_S = 2.0
MOVED_POLL_S = 0.02


class Forwarder:
    """Everything a request needs, wired by ``app.ProxyApp.start``.

    ``upstreams`` maps ``"legacy"`` and every configured service name to
    its ``Upstream``; ``breakers`` has one breaker per service."""

    def __init__(
        self,
        settings: ProxySettings,
        holder: TableHolder,
        upstreams: Mapping[str, Upstream],
        breakers: dict[str, CircuitBreaker],
        metrics: Metrics,
        shadow: ShadowRunner,
        health: RouteHealth,
        identity: IdentityResolver | None = None,
    ) -> None:
        self.settings = settings
        self.holder = holder
        self.upstreams = upstreams
        self.breakers = breakers
        self.metrics = metrics
        self.telemetry = ForwardingTelemetry(metrics, access_log=settings.access_log)
        self.shadow = shadow
        self.health = health
        self.identity = identity
        self.inflight = 0
        self.upstream_header = settings.upstream_header
        self.max_body = settings.max_body_bytes
        self.capture_limit = settings.shadow_max_body

    # -- RequestHandler ---------------------------------------------------------------
    def refused(self, status: int, reason: str) -> None:
        self.telemetry.refused(status, reason)

    async def handle(self, req: IncomingRequest, conn: ClientConnection) -> bool:
        """Serve one request; False means close the client connection."""
        checked = check_request(req.method, req.target, req.headers, max_body=self.max_body, http11=req.http11)
        if isinstance(checked, Refusal):
            return self._refuse(conn, checked.status, checked.reason)
        if checked.path == "/_internal" or checked.path.startswith("/_internal/"):
            return self._not_found(req, conn)
        if checked.expect_continue and not req.complete:
            conn.write(CONTINUE)
        self.inflight += 1
        try:
            return await self._route(req, conn, checked)
        finally:
            self.inflight -= 1

    # -- answers the proxy writes itself ----------------------------------------------
    def _refuse(self, conn: ClientConnection, status: int, reason: str) -> bool:
        self.refused(status, reason)
        conn.write(simple_response(status, json.dumps({"error": reason}).encode(), close=True))
        return False

    def _not_found(self, req: IncomingRequest, conn: ClientConnection) -> bool:
        """The monolith's internal API is never reachable from the public port."""
        self.refused(404, "internal path")
        close = not req.keep_alive or not req.complete
        conn.write(simple_response(404, b'{"error": "not found"}', close=close))
        if close:
            conn.close()
        return not close

    def _too_slow(self, conn: ClientConnection) -> bool:
        """408: the body missed its deadline (``ServerLimits.body_timeout``)."""
        return self._refuse(conn, 408, "request body not received in time")

    def _gone(
        self, req: IncomingRequest, conn: ClientConnection, route: Route, rid: bytes, started: float, path: str
    ) -> bool:
        """410 for a retired route, pointing at its successor when it has one."""
        body = json.dumps({"error": "gone", "route": route.key, "see": route.pointer}).encode()
        extra = [b"x-request-id: " + rid]
        if route.pointer:
            extra.append(b"link: <" + route.pointer.encode() + b'>; rel="alternate"')
        conn.write(simple_response(410, body, extra=extra, close=not req.keep_alive))
        self.telemetry.answered(route.key, "retired", 410, started, rid, req.method, path)
        return True

    def _error_response(
        self, conn: ClientConnection, status: int, message: str, extra: list[bytes], req: IncomingRequest
    ) -> None:
        close = not req.keep_alive or not req.complete
        conn.write(simple_response(status, json.dumps({"error": message}).encode(), extra=extra, close=close))
        if close:
            conn.close()

    # -- routing -----------------------------------------------------------------------
    async def _route(
        self, req: IncomingRequest, conn: ClientConnection, checked: Checked, replay_body: bytes | None = None
    ) -> bool:
        """Route and serve one request. ``replay_body``: a write sent again
        to its context's new owner after a ``writes_moved`` refusal (once)."""
        started = time.monotonic()
        method = req.method
        table = self.holder.table
        route = table.match(method, checked.path)
        route_key = route.key if route is not None else "default"
        rid = checked.request_id or new_request_id()
        p = plan(route, method, checked.authorization, checked.cookie)
        if p.decision is Decision.RETIRED:
            assert route is not None
            return self._gone(req, conn, route, rid, started, checked.path)
        identity_line: bytes | None = None
        if (
            p.decision is Decision.NEW
            and checked.authorization is not None
            and self.identity is not None
            and is_token(checked.authorization)
        ):
            try:
                identity_line = await self.identity.header(checked.authorization)
            except IdentityUnavailable:
                extra_503 = [b"x-request-id: " + rid, b"retry-after: 1"]
                self._error_response(conn, 503, "identity unavailable", extra_503, req)
                self.telemetry.answered(route_key, p.target, 503, started, rid, method, checked.path)
                return True
        lines = forward_headers(
            req.headers,
            checked,
            peer_ip=conn.peer_ip,
            request_id=rid,
            traceparent=child_traceparent(checked.traceparent),
        )
        body: bytes | None = replay_body
        if body is not None:
            pass  # a replay: the body was read by the first attempt
        elif req.complete:
            body = b"".join(req.take()) if req.chunks else b""
        elif checked.chunked or (checked.content_length or 0) <= REPLAY_LIMIT:
            # Read a small body whole before any upstream is contacted: a
            # client trickling it (slowloris) holds a proxy connection, not an
            # upstream worker (a sync gunicorn worker would be stuck on it),
            # and a body refused for its size or its deadline never reaches an
            # upstream. Larger ones stream; shadow and fallback replay only
            # buffered ones.
            await req.prefetch(REPLAY_LIMIT)
            if req.too_large:
                return self._refuse(conn, 413, "request body too large")
            if req.timed_out:
                return self._too_slow(conn)
            if req.complete:
                body = b"".join(req.take())
        framing = request_framing(method, body, checked.content_length, checked.chunked)
        length = len(body) if body is not None else (checked.content_length or 0)
        head = request_head(method, checked.target, lines, framing, length)
        extra: list[bytes] = [b"x-request-id: " + rid]
        if p.set_cookie:
            extra.append(b"set-cookie: " + canary.set_cookie_header(p.set_cookie))

        up: Exchange | None = None
        served_by = LEGACY
        if p.decision is Decision.NEW:
            assert route is not None
            target = p.target
            new_head = head
            if identity_line is not None:
                new_head = request_head(method, checked.target, [*lines, identity_line], framing, length)
            outcome, up = await self._ask_new(route, target, new_head, body, req, checked, started)
            if outcome is Outcome.SERVE_NEW:
                served_by = target
            elif outcome is not Outcome.FALL_BACK:
                self._error_response(conn, outcome.status, f"{target} unavailable", extra, req)
                self.telemetry.answered(route_key, target, outcome.status, started, rid, method, checked.path)
                return True
        if up is None:
            timeout = route.timeout_s if route is not None else 30.0
            try:
                up = await send_request(
                    self.upstreams[LEGACY],
                    head,
                    body,
                    req,
                    chunked=checked.chunked,
                    head_only=method == "HEAD",
                    timeout=timeout,
                )
            except UpstreamError as exc:
                if req.too_large:
                    return self._refuse(conn, 413, "request body too large")
                if req.timed_out:
                    return self._too_slow(conn)
                status = 504 if isinstance(exc, UpstreamTimeout) else 502
                self.telemetry.upstream_error(LEGACY)
                log.warning("legacy failed", extra={"request_id": rid.decode(), "error": str(exc)})
                self._error_response(conn, status, "legacy unavailable", extra, req)
                self.telemetry.answered(route_key, LEGACY, status, started, rid, method, checked.path)
                return True
        if replay_body is None and body is not None and _writes_moved(route, up) and await self._flipped_since(table):
            up.close()  # refused before any write: the owner the new table names gets it instead
            self.telemetry.writes_moved_replay(route_key, served_by)
            return await self._route(req, conn, checked, replay_body=body)
        if self.upstream_header:
            extra.insert(0, b"x-strangler-upstream: " + served_by.encode())
        shadowed = p.decision is Decision.SHADOW
        capture = shadowed and body is not None
        keep, captured = await relay_response(up, req, conn, extra, self.capture_limit if capture else None)
        self.telemetry.answered(route_key, served_by, up.status, started, rid, method, checked.path)
        if route is not None and served_by != LEGACY and route.limits.any():
            self.health.record(route.key, up.status >= 500, time.monotonic() - started)
        if capture and captured is not None and route is not None:
            self.shadow.submit(
                route,
                method,
                checked.target,
                lines,
                body or b"",
                (up.status, up.headers, captured),
                rid,
                authorization=checked.authorization,
            )
        elif shadowed and route is not None:
            self.telemetry.shadow_skipped(route.key)
        return keep

    async def _flipped_since(self, table: object) -> bool:
        """Whether the live table is no longer ``table``, waiting for it at
        most :data:`MOVED_TABLE_WAIT_S` (a bounded poll of one attribute)."""
        deadline = time.monotonic() + MOVED_TABLE_WAIT_S
        while self.holder.table is table:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(MOVED_POLL_S)
        return True

    async def _ask_new(
        self,
        route: Route,
        service: str,
        head: bytes,
        body: bytes | None,
        req: IncomingRequest,
        checked: Checked,
        started: float,
    ) -> tuple[Outcome, Exchange | None]:
        """Ask the new service unless its breaker is open; the policy says
        what happens next. The exchange comes back only with SERVE_NEW."""
        breaker = self.breakers[service]
        up: Exchange | None = None
        if not breaker.allow():
            attempt = Attempt.BREAKER_OPEN
        else:
            try:
                up = await send_request(
                    self.upstreams[service],
                    head,
                    body,
                    req,
                    chunked=checked.chunked,
                    head_only=req.method == "HEAD",
                    timeout=route.timeout_s,
                )
            except UpstreamTimeout:
                attempt = Attempt.TIMEOUT
            except UpstreamError:
                attempt = Attempt.ERROR
            else:
                attempt = Attempt.STATUS_5XX if up.status >= 500 else Attempt.OK
            breaker.record(attempt is Attempt.OK)
            if attempt is not Attempt.OK:
                self.telemetry.upstream_error(service)
        self.telemetry.breaker(service, breaker)
        outcome = after_attempt(attempt, can_fall_back=can_fall_back(route, req.method, body is not None))
        if outcome is Outcome.SERVE_NEW:
            return outcome, up
        if up is not None:
            up.close()  # a 5xx answer that legacy replaces
        if route.limits.any():
            self.health.record(route.key, True, 0.0 if attempt is Attempt.BREAKER_OPEN else time.monotonic() - started)
        if outcome is Outcome.FALL_BACK:
            self.telemetry.fallback(route.key, service, attempt.value)
        return outcome, None


def _writes_moved(route: Route | None, up: Exchange) -> bool:
    """A write route's answer is a ``writes_moved`` refusal."""
    if route is None or route.writes is None or up.status != 409:
        return False
    return any(name.lower() == WRITES_MOVED for name, _ in up.headers)
