"""The client-facing HTTP/1.1 server: one asyncio protocol per connection.

Why not ASGI here (ARCHITECTURE.md asks for "plain ASGI", and says to
change it with a reason): an ASGI server plus any client costs ~100+ us of
Python per proxied request (scope dicts, receive/send awaits, header list
conversions); measured on this machine that stays well below the 0.25x
nginx target. A protocol with httptools (llhttp in C) parses requests in
``data_received``; one handler coroutine per connection serves them in order
(pipelining stays ordered), and bodies stream through with backpressure in
both directions. The admin API and metrics run on a second listener of the
same process (``app.py``), never on the public port.

Deadlines keep a slow or idle client from holding a connection for ever
(slowloris): a request's whole head must arrive within ``header_timeout``
(408, then close), its body within ``body_timeout`` of the head (408), and a
keep-alive connection with nothing to do is closed after ``idle_timeout``.
``max_connections`` caps open client connections per process: one more is
answered 503 and closed instead of exhausting file descriptors.

The server knows nothing about routing: it depends only on the small
``RequestHandler`` Protocol below (the forwarder implements it; unit tests
use a fake), so this module imports nothing from the rest of the proxy but
the flow-control mixin and the wire helpers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httptools

from strangler_proxy.flow import WriteFlowControl
from strangler_proxy.wire import simple_response

log = logging.getLogger("strangler_proxy.server")

BODY_HIGH_WATER = 256 * 1024
MAX_PIPELINED = 16


class _HeadersTooLarge(Exception):
    pass


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What a client may send (431/413) and how long it may take (408).

    The deadlines default to nginx's ``client_header_timeout`` range and
    Envoy's edge guide; ``app.py`` passes the configured ones."""

    max_body: int
    max_header_bytes: int
    max_headers: int
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    idle_timeout: float = 60.0
    max_connections: int = 1024


class RequestHandler(Protocol):
    """The server's only dependency: who answers a parsed request.

    ``handle`` serves one request (requests of a connection are handed over
    one at a time, in order) and returns False to close the connection;
    ``refused`` is told about requests the parser refused itself, which
    never reach ``handle`` (for metrics and logs)."""

    async def handle(self, req: IncomingRequest, conn: ClientConnection) -> bool: ...

    def refused(self, status: int, reason: str) -> None: ...


class IncomingRequest:
    """A parsed request head plus its body as it arrives."""

    __slots__ = (
        "buffered",
        "chunks",
        "complete",
        "conn",
        "headers",
        "http11",
        "keep_alive",
        "method",
        "received",
        "started",
        "target",
        "timed_out",
        "too_large",
        "waiter",
    )

    def __init__(
        self,
        conn: ClientConnection,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        http11: bool,
        keep_alive: bool,
    ) -> None:
        self.conn = conn
        self.method = method
        self.target = target
        self.headers = headers
        self.http11 = http11
        self.keep_alive = keep_alive
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.received = 0
        self.complete = False
        self.too_large = False
        self.timed_out = False
        self.waiter: asyncio.Future[None] | None = None
        self.started = conn.loop.time()

    def feed(self, data: bytes) -> None:
        self.received += len(data)
        if self.received > self.conn.max_body:
            self.too_large = True
            self.conn.abort_reading()
            self._wake()
            return
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > BODY_HIGH_WATER:
            self.conn.pause_reading()
        self._wake()

    def finish(self) -> None:
        self.complete = True
        self._wake()

    def expire(self) -> None:
        """The body did not arrive within its deadline: whoever waits for
        it gives up (``BodyTimeout``, or a failed upstream exchange) and the
        client gets 408."""
        self.timed_out = True
        self.conn.pause_reading()
        self._wake()

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def take(self) -> list[bytes]:
        chunks = self.chunks
        self.chunks = []
        if self.buffered > BODY_HIGH_WATER:
            self.conn.resume_reading()
        self.buffered = 0
        return chunks

    async def wait(self) -> None:
        """Until more body, its end, or the limit (returns at once if any of
        these happened meanwhile, so no wake-up is ever lost)."""
        if self.chunks or self.complete or self.too_large or self.timed_out:
            return
        if self.conn.closed:
            raise ConnectionResetError("client went away")
        self.waiter = self.conn.loop.create_future()
        await self.waiter
        self.waiter = None

    async def prefetch(self, limit: int) -> None:
        """Until the body is complete, over the limit, past its deadline, or
        at least ``limit`` bytes are buffered (nothing is taken: a caller
        that then streams still gets every chunk)."""
        while not (self.complete or self.too_large or self.timed_out or self.buffered >= limit):
            if self.conn.closed:
                raise ConnectionResetError("client went away")
            self.waiter = self.conn.loop.create_future()
            await self.waiter
            self.waiter = None

    async def read_all(self) -> bytes:
        parts: list[bytes] = []
        while True:
            parts.extend(self.take())
            if self.too_large:
                raise BodyTooLarge()
            if self.timed_out:
                raise BodyTimeout()
            if self.complete:
                return b"".join(parts)
            await self.wait()


class BodyTooLarge(Exception):
    pass


class BodyTimeout(Exception):
    """The request body did not arrive within ``ServerLimits.body_timeout``."""


class ClientConnection(WriteFlowControl, asyncio.Protocol):
    """Parses requests and runs the handler loop for one client socket."""

    def __init__(self, handler: RequestHandler, limits: ServerLimits, registry: set[ClientConnection]) -> None:
        """``registry`` holds every open connection (the app drains them on
        shutdown); a connection adds itself when made, removes itself when lost."""
        self.handler = handler
        self.registry = registry
        self.loop = asyncio.get_running_loop()
        self.max_body = limits.max_body
        self.max_header_bytes = limits.max_header_bytes
        self.max_headers = limits.max_headers
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.peer_ip = "unknown"
        self.closed = False
        self.queue: deque[IncomingRequest] = deque()
        self.current: IncomingRequest | None = None
        self._next: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._reading_paused = False
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._header_error = 0
        self.active: IncomingRequest | None = None
        self._discarding = False
        self._pending_error: bytes | None = None
        self.limits = limits
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._expiry = 0.0
        self._on_expiry: Callable[[], None] | None = None
        self._in_head = False

    # -- asyncio callbacks --------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer_ip = str(peer[0])
        if len(self.registry) >= self.limits.max_connections:
            self._over_capacity()
            return
        self.registry.add(self)
        self._in_head = True  # the first request's head is due from the moment we accept
        self._arm(self.limits.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._disarm()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.registry.discard(self)
        if self.current is not None:
            self.current._wake()
        for req in self.queue:
            req._wake()
        if self._next is not None and not self._next.done():
            self._next.set_result(None)
        self._release_drain()

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._ignore_upgrade()
        except httptools.HttpParserError as exc:
            if self._header_error:
                self._refuse_and_close(431, b"request headers too large")
            else:
                reason = str(exc).encode("ascii", "replace")[:200]
                self._refuse_and_close(400, b"malformed request: " + reason)

    # -- httptools callbacks ------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._header_bytes = 0
        if not self._in_head:  # an idle keep-alive connection starts its next request
            self._in_head = True
            self._arm(self.limits.header_timeout, self._head_timed_out)

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._header_bytes += len(url)
        if self._header_bytes > self.max_header_bytes:
            self._header_error = 1
            raise _HeadersTooLarge()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        self._headers.append((name, value))
        if self._header_bytes > self.max_header_bytes or len(self._headers) > self.max_headers:
            self._header_error = 1
            raise _HeadersTooLarge()

    def on_headers_complete(self) -> None:
        p = self.parser
        req = IncomingRequest(
            self,
            p.get_method().decode("ascii", "replace"),
            self._url,
            self._headers,
            p.get_http_version() == "1.1",
            p.should_keep_alive(),
        )
        self.current = req
        self.queue.append(req)
        self._in_head = False
        self._arm(self.limits.body_timeout, req.expire)
        if len(self.queue) > MAX_PIPELINED:
            self.pause_reading()
        if self._task is None:
            self._task = self.loop.create_task(self._serve())
        elif self._next is not None and not self._next.done():
            self._next.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self.current is not None:
            self.current.feed(body)

    def on_message_complete(self) -> None:
        self._disarm()
        if self.current is not None:
            self.current.finish()

    # -- deadlines (slowloris) --------------------------------------------------
    def _arm(self, seconds: float, on_expiry: Callable[[], None]) -> None:
        """One deadline at a time: the head's, the body's or the idle one.

        Lazy, because arming happens up to three times per request and a
        loop timer costs far more than the request's own parsing: this only
        records when and what; one timer per connection wakes at most every
        ``header_timeout`` and re-checks (``_tick``). Since a wake-up is
        never further away than that, a new deadline (never sooner than
        ``header_timeout`` either, unless configured so) needs no new timer."""
        at = self.loop.time() + seconds
        self._expiry = at
        self._on_expiry = on_expiry
        if self._timer is None or at < self._timer_at:
            self._schedule(at)

    def _disarm(self) -> None:
        self._on_expiry = None  # the timer still wakes, and finds nothing due

    def _schedule(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.closed:
            self._timer = None
            return
        self._timer_at = min(at, self.loop.time() + self.limits.header_timeout)
        self._timer = self.loop.call_at(self._timer_at, self._tick)

    def _tick(self) -> None:
        self._timer = None
        on_expiry = self._on_expiry
        if on_expiry is None or self.closed:
            return
        if self.loop.time() < self._expiry:
            self._schedule(self._expiry)
            return
        self._on_expiry = None
        on_expiry()

    def _head_timed_out(self) -> None:
        """The head did not arrive in time: 408 (after the request being
        served, if any) and close; nothing of it was handed to the handler."""
        self._refuse_and_close(408, b"request head not received in time")

    def _idle_timed_out(self) -> None:
        """A keep-alive connection nobody uses: close it silently, as
        nginx's keepalive_timeout does (no request is pending, so no answer
        is owed)."""
        if not self.queue and not self._in_head:
            self.close()

    def _over_capacity(self) -> None:
        """Past ``max_connections``: say 503 and close rather than accept
        until the process runs out of file descriptors. Never registered, so
        it does not count against the cap while it lingers."""
        self.handler.refused(503, "too many client connections")
        self.write(simple_response(503, b'{"error": "too many connections"}', close=True, extra=[b"retry-after: 1"]))
        self.linger_close(0.5)

    # -- flow control ---------------------------------------------------------
    def pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None and not self.closed:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None and not self.closed:
            self._reading_paused = False
            self.transport.resume_reading()

    def abort_reading(self) -> None:
        """Body over the limit: stop reading; the handler answers 413 and
        closes (the rest of the body is never read)."""
        self.pause_reading()

    # -- writing ---------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()

    def linger_close(self, seconds: float = 1.0) -> None:
        """Close after an error answer while the client may still be sending
        a body: closing at once would make the kernel send RST and the client
        could lose our answer. So: FIN our side, read and drop what still
        comes for a moment, then close."""
        if self.closed or self.transport is None:
            return
        self._discarding = True
        try:
            if self.transport.can_write_eof():
                self.transport.write_eof()
        except (OSError, RuntimeError):
            pass
        self._reading_paused = True
        self.resume_reading()
        self.loop.call_later(seconds, self.close)

    def _ignore_upgrade(self) -> None:
        """``Upgrade`` (h2c, websocket) or CONNECT: the proxy speaks only
        HTTP/1.1, so the request is served as a plain one (RFC 9110 section
        7.8 lets a server ignore Upgrade; the header never goes upstream, it
        is hop-by-hop) and the connection closes after the answer, since the
        parser cannot say where the next request would start. One whose body
        has not fully arrived is refused instead: its bytes are no longer
        framed by the parser."""
        req = self.current
        if req is None or not req.complete:
            self._refuse_and_close(400, b"protocol upgrade with an unfinished request")
            return
        req.keep_alive = False
        self._discarding = True
        self._disarm()

    def _refuse_and_close(self, status: int, reason: bytes) -> None:
        """Parser-level refusal. The byte stream can no longer be trusted:
        requests parsed but not started are dropped (never forwarded), the
        one in progress (if any) finishes, then the error is sent and the
        connection closed."""
        self.pause_reading()
        while self.queue and self.queue[-1] is not self.active:
            self.queue.pop()
        self.handler.refused(status, reason.decode("ascii", "replace"))
        response = simple_response(status, b'{"error": "' + reason.replace(b'"', b"'") + b'"}', close=True)
        if self.active is None:
            self.write(response)
            self.close()
        else:
            self._pending_error = response

    # -- handler loop -------------------------------------------------------------
    async def _serve(self) -> None:
        try:
            while not self.closed:
                if not self.queue:
                    if not self._in_head:
                        self._arm(self.limits.idle_timeout, self._idle_timed_out)
                    self._next = self.loop.create_future()
                    await self._next
                    self._next = None
                    continue
                req = self.active = self.queue[0]
                keep = await self.handler.handle(req, self)
                self.active = None
                self.queue.popleft()
                if self._pending_error is not None:
                    self.write(self._pending_error)
                    self.close()
                    return
                if len(self.queue) <= MAX_PIPELINED // 2:
                    self.resume_reading()
                if not keep or not req.keep_alive:
                    if req.complete:
                        self.close()
                    else:
                        self.linger_close()
                    return
        except (ConnectionError, asyncio.CancelledError):
            self.close()
        except Exception:  # pragma: no cover - last resort, logged
            log.exception("handler crashed")
            self.close()
