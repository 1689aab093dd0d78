"""The admin listener: the admin API and metrics on their own address.

Envoy and nginx keep their admin interfaces on a listener that is never
public; so does this proxy. ``STRANGLER_PROXY_ADMIN_HOST`` /
``STRANGLER_PROXY_ADMIN_PORT`` (loopback by default; a compose network gives
its own address) serve ``/_strangler/...`` and nothing else, while the public
port treats ``/_strangler/`` like any other path.

``AdminDoor`` is the server's ``RequestHandler`` for that listener: the same
wire checks as the public port (``headers.check_request``), a bounded body,
then ``AdminApi``. Failed token attempts are rate-limited per client address
by ``AuthThrottle`` (a token bucket): once a peer's bucket is empty, every
authenticated endpoint answers 429 with ``Retry-After`` until it refills,
so guessing the token costs time even from an address allowed to connect.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from strangler_proxy.headers import Refusal, check_request
from strangler_proxy.server import BodyTimeout, BodyTooLarge, ClientConnection, IncomingRequest
from strangler_proxy.wire import simple_response

log = logging.getLogger("strangler_proxy.admin")

ADMIN_PREFIX = "/_strangler/"
ADMIN_BODY_LIMIT = 4 * 1024 * 1024
#: Open to anyone who can reach the admin listener: never throttled.
OPEN_PATHS = frozenset({"/_strangler/health", "/_strangler/metrics"})
#: Addresses whose failures are remembered at once; the oldest are forgotten first.
MAX_TRACKED_PEERS = 10_000


class AdminHandler(Protocol):
    """The admin API as the listener sees it: (status, body, content type)."""

    async def handle(
        self, method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> tuple[int, bytes, bytes]: ...


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class AuthThrottle:
    """Token bucket of failed admin authentications per client address.

    Each peer starts with ``burst`` attempts; one failed attempt (401/403)
    takes one; one comes back every ``refill_s`` seconds. An empty bucket
    means 429 until a whole attempt has come back. Successful requests cost
    nothing. Memory is bounded: at most ``max_peers`` addresses are tracked,
    the least recently failing forgotten first."""

    def __init__(
        self,
        *,
        burst: int,
        refill_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_peers: int = MAX_TRACKED_PEERS,
    ) -> None:
        self.burst = float(burst)
        self.refill_s = refill_s
        self.clock = clock
        self.max_peers = max_peers
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _current(self, peer: str) -> _Bucket | None:
        bucket = self._buckets.get(peer)
        if bucket is None:
            return None
        now = self.clock()
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) / self.refill_s)
        bucket.updated = now
        if bucket.tokens >= self.burst:
            del self._buckets[peer]  # back to full: nothing to remember
            return None
        return bucket

    def retry_after(self, peer: str) -> int:
        """0 if ``peer`` may try a token now, else whole seconds to wait."""
        bucket = self._current(peer)
        if bucket is None or bucket.tokens >= 1.0:
            return 0
        return max(1, math.ceil((1.0 - bucket.tokens) * self.refill_s))

    def failed(self, peer: str) -> None:
        """Record one failed attempt by ``peer``."""
        bucket = self._current(peer)
        if bucket is None:
            bucket = _Bucket(self.burst, self.clock())
            self._buckets[peer] = bucket
        self._buckets.move_to_end(peer)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)
        while len(self._buckets) > self.max_peers:
            self._buckets.popitem(last=False)


class AdminDoor:
    """``RequestHandler`` of the admin listener (see the module docstring)."""

    def __init__(
        self,
        admin: AdminHandler,
        throttle: AuthThrottle,
        *,
        on_refused: Callable[[int, str], None] | None = None,
    ) -> None:
        self.admin = admin
        self.throttle = throttle
        self.on_refused = on_refused

    def refused(self, status: int, reason: str) -> None:
        if self.on_refused is not None:
            self.on_refused(status, reason)

    async def handle(self, req: IncomingRequest, conn: ClientConnection) -> bool:
        checked = check_request(req.method, req.target, req.headers, max_body=ADMIN_BODY_LIMIT, http11=req.http11)
        if isinstance(checked, Refusal):
            return self._answer(conn, req, checked.status, {"error": checked.reason}, close=True)
        try:
            body = await req.read_all()
        except BodyTooLarge:
            return self._answer(conn, req, 413, {"error": "request body too large"}, close=True)
        except BodyTimeout:
            return self._answer(conn, req, 408, {"error": "request body not received in time"}, close=True)
        if not checked.path.startswith(ADMIN_PREFIX):
            return self._answer(conn, req, 404, {"error": "the admin listener serves /_strangler/ only"})
        guarded = checked.path.rstrip("/") not in OPEN_PATHS
        if guarded:
            wait = self.throttle.retry_after(conn.peer_ip)
            if wait:
                self.refused(429, "admin token attempts throttled")
                log.warning("admin API throttled", extra={"peer": conn.peer_ip, "retry_after": wait})
                extra = [b"retry-after: %d" % wait]
                return self._answer(conn, req, 429, {"error": "too many failed token attempts"}, extra=extra)
        status, payload, ctype = await self.admin.handle(req.method, checked.target, req.headers, body)
        if guarded and status in (401, 403):
            self.throttle.failed(conn.peer_ip)
        conn.write(simple_response(status, payload, content_type=ctype, close=not req.keep_alive))
        return True

    def _answer(
        self,
        conn: ClientConnection,
        req: IncomingRequest,
        status: int,
        payload: dict[str, str],
        *,
        close: bool = False,
        extra: list[bytes] | None = None,
    ) -> bool:
        close = close or not req.keep_alive
        body = json.dumps(payload).encode()
        conn.write(simple_response(status, body, close=close, extra=extra))
        return not close
