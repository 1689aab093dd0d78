"""Request handling: validate, route, choose a side, forward, fall back.

The per-request decision (``choose``) is separate from moving bytes
(``_forward`` / ``_relay``) so each can be read and tested on its own.
Nothing here blocks on the shadow call or on the database: shadow work and
mismatch storage are scheduled after the client's answer is written.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from strangler_proxy import canary
from strangler_proxy.breaker import CircuitBreaker, STATE_VALUE
from strangler_proxy.headers import (
    Checked, Refusal, check_request, child_traceparent, forward_headers, new_request_id, response_headers,
)
from strangler_proxy.policy import LEGACY, Attempt, Decision, Outcome, after_attempt, can_fall_back, plan, wants_replay
from strangler_proxy.routing import Route, RouteTable
from strangler_proxy.server import BodyTooLarge, ClientConnection, IncomingRequest
from strangler_proxy.wire import (
    CONTINUE, LAST_CHUNK, Framing, encode_body, encode_chunk, framing_header, request_framing, request_head,
    response_framing, simple_response, status_line,
)
from strangler_proxy.upstream import UpstreamConnection, UpstreamError, UpstreamPool, UpstreamTimeout, exchange

if TYPE_CHECKING:
    from strangler_proxy.admin import AdminApi
    from strangler_proxy.health import RouteHealth
    from strangler_proxy.metrics import Metrics
    from strangler_proxy.settings import ProxySettings
    from strangler_proxy.shadow import ShadowRunner

log = logging.getLogger("strangler_proxy.forwarding")

REPLAY_LIMIT = 64 * 1024
ADMIN_BODY_LIMIT = 4 * 1024 * 1024


class TableHolder:
    """The live table; replaced by one assignment so a flip is atomic for
    every request that has not matched yet and invisible to those that did."""

    def __init__(self, table: RouteTable) -> None:
        self.table = table


class Forwarder:
    """Everything a request needs, wired by ``app.create_app``."""

    def __init__(
        self,
        settings: "ProxySettings",
        holder: TableHolder,
        pools: dict[str, UpstreamPool],
        breakers: dict[str, CircuitBreaker],
        metrics: "Metrics",
        shadow: "ShadowRunner",
        health: "RouteHealth",
        admin: "AdminApi | None" = None,
    ) -> None:
        self.settings = settings
        self.holder = holder
        self.pools = pools
        self.breakers = breakers
        self.metrics = metrics
        self.shadow = shadow
        self.health = health
        self.admin = admin
        self.inflight = 0
        self.upstream_header = settings.upstream_header

    # -- bookkeeping ------------------------------------------------------------
    def refused(self, status: int, reason: str) -> None:
        self.metrics.inc("strangler_refused_total", (("status", str(status)), ("reason", reason[:60])))
        log.info("refused request", extra={"status": status, "reason": reason})

    def _done(self, route_key: str, upstream: str, status: int, started: float, rid: bytes, method: str, path: str) -> None:
        elapsed = time.monotonic() - started
        m = self.metrics
        labels = (("route", route_key), ("upstream", upstream))
        m.inc("strangler_requests_total", labels + (("code", f"{status // 100}xx"),))
        m.observe("strangler_request_duration_seconds", labels, elapsed)
        if self.settings.access_log or status >= 500:
            log.info(
                "request",
                extra={"request_id": rid.decode(), "method": method, "path": path, "route": route_key,
                       "upstream": upstream, "status": status, "ms": round(elapsed * 1000, 3)},
            )

    # -- entry point ----------------------------------------------------------------
    async def handle(self, req: IncomingRequest, conn: ClientConnection) -> bool:
        """Serve one request; False means close the client connection."""
        checked = check_request(req.method, req.target, req.headers, max_body=self.settings.max_body_bytes)
        if isinstance(checked, Refusal):
            return self._refuse(conn, checked.status, checked.reason)
        if checked.path.startswith("/_strangler/"):
            return await self._admin(req, conn, checked)
        if checked.expect_continue and not req.complete:
            conn.write(CONTINUE)
        self.inflight += 1
        try:
            return await self._route(req, conn, checked)
        finally:
            self.inflight -= 1

    def _refuse(self, conn: ClientConnection, status: int, reason: str) -> bool:
        self.refused(status, reason)
        conn.write(simple_response(status, json.dumps({"error": reason}).encode(), close=True))
        return False

    async def _admin(self, req: IncomingRequest, conn: ClientConnection, checked: Checked) -> bool:
        try:
            body = await req.read_all() if req.received <= ADMIN_BODY_LIMIT else b""
        except BodyTooLarge:
            return self._refuse(conn, 413, "request body too large")
        if self.admin is None:
            conn.write(simple_response(503, b'{"error": "admin API not ready"}'))
            return True
        status, payload, ctype = await self.admin.handle(req.method, checked.target, req.headers, body)
        conn.write(simple_response(status, payload, content_type=ctype, close=not req.keep_alive))
        return True

    async def _route(self, req: IncomingRequest, conn: ClientConnection, checked: Checked) -> bool:
        started = time.monotonic()
        method = req.method
        route = self.holder.table.match(method, checked.path)
        route_key = route.key if route is not None else "default"
        rid = checked.request_id or new_request_id()
        p = plan(route, method, checked.authorization, checked.cookie)
        if p.decision is Decision.RETIRED:
            assert route is not None
            return self._gone(req, conn, route, rid, started, checked.path)
        lines = forward_headers(
            req.headers, checked, peer_ip=conn.peer_ip, request_id=rid,
            traceparent=child_traceparent(checked.traceparent),
        )
        body: bytes | None = None
        if req.complete:
            body = b"".join(req.take()) if req.chunks else b""
        elif (wants_replay(p, route, method) and not checked.chunked
              and (checked.content_length or 0) <= REPLAY_LIMIT):
            try:
                body = await req.read_all()
            except BodyTooLarge:
                return self._refuse(conn, 413, "request body too large")
        head_only = method == "HEAD"
        extra: list[bytes] = [b"x-request-id: " + rid]
        if p.set_cookie:
            extra.append(b"set-cookie: " + canary.set_cookie_header(p.set_cookie))
        timeout = route.timeout_s if route is not None else 30.0

        up: UpstreamConnection | None = None
        served_by = LEGACY
        if p.decision is Decision.NEW:
            assert route is not None
            target = p.target
            outcome, up = await self._ask_new(route, target, method, checked, lines, body, req, head_only, started)
            if outcome is Outcome.SERVE_NEW:
                served_by = target
            elif outcome is not Outcome.FALL_BACK:
                self._error_response(conn, outcome.status, f"{target} unavailable", extra, req)
                self._done(route_key, target, outcome.status, started, rid, method, checked.path)
                return True
        if up is None:
            try:
                up = await self._send(self.pools[LEGACY], method, checked, lines, body, req, head_only, timeout)
            except UpstreamError as exc:
                if req.too_large:
                    return self._refuse(conn, 413, "request body too large")
                status = 504 if isinstance(exc, UpstreamTimeout) else 502
                self.metrics.inc("strangler_upstream_errors_total", (("upstream", LEGACY),))
                log.warning("legacy failed", extra={"request_id": rid.decode(), "error": str(exc)})
                self._error_response(conn, status, "legacy unavailable", extra, req)
                self._done(route_key, LEGACY, status, started, rid, method, checked.path)
                return True
        shadowed = p.decision is Decision.SHADOW
        capture = shadowed and body is not None
        keep, captured = await self._relay(up, req, conn, served_by, extra, capture)
        self._done(route_key, served_by, up.status, started, rid, method, checked.path)
        if route is not None and served_by != LEGACY and route.limits.any():
            self.health.record(route.key, up.status >= 500, time.monotonic() - started)
        if capture and captured is not None and route is not None:
            self.shadow.submit(route, method, checked.target, lines, body or b"",
                               (up.status, up.headers, captured), rid)
        elif shadowed and route is not None:
            self.metrics.inc("strangler_shadow_total", (("route", route.key), ("outcome", "skipped")))
        return keep

    def _gone(self, req: IncomingRequest, conn: ClientConnection, route: Route, rid: bytes, started: float,
              path: str) -> bool:
        """410 for a retired route, pointing at its successor when it has one."""
        body = json.dumps({"error": "gone", "route": route.key, "see": route.pointer}).encode()
        extra = [b"x-request-id: " + rid]
        if route.pointer:
            extra.append(b"link: <" + route.pointer.encode() + b'>; rel="alternate"')
        conn.write(simple_response(410, body, extra=extra, close=not req.keep_alive))
        self._done(route.key, "retired", 410, started, rid, req.method, path)
        return True

    async def _ask_new(
        self, route: Route, service: str, method: str, checked: Checked, lines: list[bytes],
        body: bytes | None, req: IncomingRequest, head_only: bool, started: float,
    ) -> tuple[Outcome, UpstreamConnection | None]:
        """Ask the new service unless its breaker is open; the policy says
        what happens next. The connection comes back only with SERVE_NEW."""
        breaker = self.breakers[service]
        up: UpstreamConnection | None = None
        if not breaker.allow():
            attempt = Attempt.BREAKER_OPEN
        else:
            try:
                up = await self._send(self.pools[service], method, checked, lines, body, req, head_only,
                                      route.timeout_s)
            except UpstreamTimeout:
                attempt = Attempt.TIMEOUT
            except UpstreamError:
                attempt = Attempt.ERROR
            else:
                attempt = Attempt.STATUS_5XX if up.status >= 500 else Attempt.OK
            breaker.record(attempt is Attempt.OK)
            if attempt is not Attempt.OK:
                self.metrics.inc("strangler_upstream_errors_total", (("upstream", service),))
        self._set_breaker_gauge(service, breaker)
        outcome = after_attempt(attempt, can_fall_back=can_fall_back(route, method, body is not None))
        if outcome is Outcome.SERVE_NEW:
            return outcome, up
        if up is not None:
            up.close()  # a 5xx answer legacy replaces
        if route.limits.any():
            self.health.record(route.key, True, 0.0 if attempt is Attempt.BREAKER_OPEN else time.monotonic() - started)
        if outcome is Outcome.FALL_BACK:
            self._fallback(route, service, attempt.value)
        return outcome, None

    def _fallback(self, route: Route, service: str, why: str) -> None:
        self.metrics.inc("strangler_fallbacks_total", (("route", route.key), ("upstream", service), ("reason", why)))

    def _set_breaker_gauge(self, service: str, breaker: CircuitBreaker) -> None:
        self.metrics.set("strangler_breaker_state", (("upstream", service),), STATE_VALUE[breaker.state])

    def _error_response(self, conn: ClientConnection, status: int, message: str, extra: list[bytes], req: IncomingRequest) -> None:
        close = not req.keep_alive or not req.complete
        conn.write(simple_response(status, json.dumps({"error": message}).encode(), extra=extra, close=close))
        if close:
            conn.close()

    # -- bytes ---------------------------------------------------------------------------
    def _request_head(self, method: str, checked: Checked, lines: list[bytes], body: bytes | None) -> bytes:
        framing = request_framing(method, body, checked.content_length, checked.chunked)
        length = len(body) if body is not None else (checked.content_length or 0)
        return request_head(method, checked.target, lines, framing, length)

    async def _send(
        self, pool: UpstreamPool, method: str, checked: Checked, lines: list[bytes], body: bytes | None,
        req: IncomingRequest, head_only: bool, timeout: float,
    ) -> UpstreamConnection:
        head = self._request_head(method, checked, lines, body)
        if body is not None:
            return await exchange(pool, head, body, head_only=head_only, timeout=timeout)
        up = await pool.acquire()
        up.start(head, head_only=head_only, timeout=timeout)
        pump = asyncio.get_running_loop().create_task(self._pump(req, up, checked.chunked))
        try:
            await up.wait_head()
        except BaseException:
            pump.cancel()
            up.abort()
            raise
        if not pump.done():
            up.keep_alive = False  # answered before the body was sent: cannot reuse
            pump.add_done_callback(lambda _t: None)
        return up

    async def _pump(self, req: IncomingRequest, up: UpstreamConnection, chunked: bool) -> None:
        """Stream the client's body upstream as it arrives."""
        try:
            while True:
                for c in req.take():
                    up.write(encode_chunk(c) if chunked else c)
                await up.drain()
                if req.too_large:
                    up._fail(UpstreamError("request body over the limit"))
                    return
                if req.complete:
                    if chunked:
                        up.write(LAST_CHUNK)
                    return
                await req.wait()
        except (ConnectionError, asyncio.CancelledError):
            up.abort()

    async def _relay(
        self, up: UpstreamConnection, req: IncomingRequest, conn: ClientConnection, served_by: str,
        extra: list[bytes], capture: bool,
    ) -> tuple[bool, bytes | None]:
        """Write the upstream's answer to the client, streaming, and release
        the upstream connection. Returns (keep client alive, captured body)."""
        pool = self.pools[served_by]
        lines, length, _ = response_headers(up.headers)
        status = up.status
        framing = response_framing(head_request=req.method == "HEAD", status=status, length=length, http11=req.http11)
        keep = req.keep_alive and framing is not Framing.UNTIL_CLOSE
        announce = framing_header(framing, length)
        if announce is not None:
            lines.append(announce)
        if self.upstream_header:
            lines.append(b"x-strangler-upstream: " + served_by.encode())
        lines.extend(extra)
        if not keep:
            lines.append(b"connection: close")
        head = status_line(status, up.reason or None) + b"\r\n".join(lines) + b"\r\n\r\n"
        captured: list[bytes] | None = [] if capture else None
        cap_size = 0
        cap_limit = self.settings.shadow_max_body
        first = True
        try:
            while True:
                chunks = up.take()
                if captured is not None:
                    for c in chunks:
                        cap_size += len(c)
                    if cap_size > cap_limit:
                        captured = None
                    else:
                        captured.extend(chunks)
                data = encode_body(framing, chunks, up.complete)
                if first:
                    conn.write(head + data)
                    first = False
                elif data:
                    conn.write(data)
                if up.complete:
                    break
                if up.error is not None or conn.closed:
                    up.close()
                    conn.close()
                    return False, None
                await conn.drain()
                await up.wait()
        finally:
            pool.release(up)
        if framing is Framing.UNTIL_CLOSE:
            conn.close()
        return keep, (b"".join(captured) if captured is not None else None)


def headers_dict(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-cased str header map (last wins) for comparisons and storage."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}


def describe(value: Any) -> str:
    return json.dumps(value, default=str)
