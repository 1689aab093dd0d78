"""Pooled keep-alive HTTP/1.1 client for upstreams, at protocol level.

Why not httpx/aiohttp on the hot path: per request they cost tens to
hundreds of microseconds of Python in connection-pool bookkeeping, header
objects and stream wrappers (ARCHITECTURE.md: 0.4k-4.8k req/s). Here one
``asyncio.Protocol`` per upstream socket parses responses with httptools
(llhttp, C) and hands the handler raw header pairs and body chunks; the pool
is a deque of idle connections. Backpressure: reading pauses when the
handler has not taken buffered body bytes.

Only configured upstreams exist as pools, so nothing else can be contacted.
``UpstreamPool`` implements the ``Upstream`` port (``upstream_port.py``) and
``UpstreamConnection`` its ``Exchange``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from urllib.parse import urlsplit

import httptools

from strangler_proxy.flow import WriteFlowControl
from strangler_proxy.upstream_port import UpstreamError, UpstreamTimeout

__all__ = ["UpstreamConnection", "UpstreamError", "UpstreamPool", "UpstreamTimeout"]

HIGH_WATER = 256 * 1024
SWEEP_S = 0.05


class UpstreamConnection(WriteFlowControl, asyncio.Protocol):
    """One keep-alive connection; serves one exchange at a time."""

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.reused = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.head_done = False
        self.complete = False
        self.keep_alive = True
        self.error: UpstreamError | None = None
        self.head_only = False
        self.waiter: asyncio.Future[None] | None = None
        self._timeout = 0.0
        self._last = 0.0
        self._paused = False

    # -- asyncio callbacks ------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._last = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.fail(UpstreamError(f"bad response from {self.pool.name}: {exc}"))
            return
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.keep_alive = False
        if not self.complete:
            if self.head_done and self._close_delimited():
                self.complete = True
            elif self.error is None:
                self.error = UpstreamError(f"{self.pool.name} closed the connection")
        self._cancel_timer()
        self._wake()
        self._release_drain()

    # -- httptools callbacks ----------------------------------------------
    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:
            self.headers = []
            self.reason = b""
            return
        self.status = status
        self.head_done = True
        self.keep_alive = self.parser.should_keep_alive()
        if self.head_only or status in (204, 304):
            # HEAD answers carry no body whatever Content-Length says;
            # llhttp cannot be told so, hence no reuse of this socket.
            self.complete = True
            if self.head_only:
                self.keep_alive = False

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if self.head_done:
            self.complete = True
            self._cancel_timer()

    # -- used by the forwarding code ----------------------------------------
    def _close_delimited(self) -> bool:
        for name, _ in self.headers:  # noqa: SIM110 -- per response: a plain loop, no generator
            if name.lower() in (b"content-length", b"transfer-encoding"):
                return False
        return True

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def fail(self, error: UpstreamError) -> None:
        if self.error is None:
            self.error = error
        self.abort()
        self._wake()

    def _cancel_timer(self) -> None:
        self.pool.busy.discard(self)

    def check_timeout(self, now: float) -> None:
        """Called by the pool's sweep; one shared timer instead of a
        TimerHandle per request keeps the hot path cheaper."""
        if not self.complete and now - self._last >= self._timeout:
            self.fail(UpstreamTimeout(f"{self.pool.name} timed out after {self._timeout:g}s"))

    def start(self, head: bytes, *, head_only: bool, timeout: float) -> None:
        """Begin an exchange: write the request head (and maybe body)."""
        self._reset()
        self.head_only = head_only
        self._timeout = timeout
        self._last = self.loop.time()
        self.pool.watch(self)
        assert self.transport is not None
        self.transport.write(head)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    async def wait(self) -> None:
        """Until something new arrived (head, body, end or error); returns
        at once if it already has, so no wake-up is ever lost."""
        if self.chunks or self.complete or self.error is not None or self.closed:
            return
        self.waiter = self.loop.create_future()
        await self.waiter
        self.waiter = None

    async def wait_head(self) -> None:
        while not self.head_done:
            if self.error is not None:
                raise self.error
            if self.closed:
                raise UpstreamError(f"{self.pool.name} connection closed")
            await self.wait()

    def take(self) -> list[bytes]:
        chunks = self.chunks
        self.chunks = []
        self.buffered = 0
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()
        return chunks

    async def read_all(self, limit: int) -> bytes:
        """The whole body (for shadow comparison); raises if over limit."""
        parts: list[bytes] = []
        size = 0
        while True:
            for c in self.take():
                size += len(c)
                parts.append(c)
            if size > limit:
                raise UpstreamError("body too large to compare")
            if self.complete:
                return b"".join(parts)
            if self.error is not None:
                raise self.error
            await self.wait()

    def release(self) -> None:
        self.pool.release(self)

    def close(self) -> None:
        self._cancel_timer()
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection now, discarding unsent bytes (an exchange
        that went wrong must not be flushed or reused)."""
        self._cancel_timer()
        self.keep_alive = False
        if self.transport is not None:
            self.closed = True
            self.transport.abort()


class UpstreamPool:
    """Idle keep-alive connections to one configured upstream."""

    def __init__(self, name: str, base_url: str, *, max_idle: int = 256, connect_timeout: float = 2.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream {name}: only http://host:port URLs are supported, got {base_url!r}")
        self.name = name
        self.base_url = base_url
        self.host = parts.hostname
        self.port = parts.port or 80
        self.max_idle = max_idle
        self.connect_timeout = connect_timeout
        self.loop = asyncio.get_running_loop()
        self.idle: deque[UpstreamConnection] = deque()
        self.busy: set[UpstreamConnection] = set()
        self._sweeping = False

    def watch(self, conn: UpstreamConnection) -> None:
        self.busy.add(conn)
        if not self._sweeping:
            self._sweeping = True
            self.loop.call_later(SWEEP_S, self._sweep)

    def _sweep(self) -> None:
        now = self.loop.time()
        for conn in list(self.busy):
            conn.check_timeout(now)
        if self.busy:
            self.loop.call_later(SWEEP_S, self._sweep)
        else:
            self._sweeping = False

    async def connect(self) -> UpstreamConnection:
        try:
            _, proto = await asyncio.wait_for(
                self.loop.create_connection(lambda: UpstreamConnection(self), self.host, self.port),
                self.connect_timeout,
            )
        except TimeoutError:
            raise UpstreamTimeout(f"connect to {self.name} timed out") from None
        except OSError as exc:
            raise UpstreamError(f"cannot connect to {self.name}: {exc.strerror or exc}") from None
        return proto

    async def acquire(self) -> UpstreamConnection:
        idle = self.idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                conn.reused = True
                return conn
        return await self.connect()

    def release(self, conn: UpstreamConnection) -> None:
        if (
            conn.complete
            and conn.keep_alive
            and not conn.closed
            and conn.error is None
            and len(self.idle) < self.max_idle
        ):
            self.idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()

    async def send(self, head: bytes, body: bytes, *, head_only: bool, timeout: float) -> UpstreamConnection:
        """Send a fully buffered request and wait for the response head.

        A reused keep-alive connection may have been closed by the upstream
        while idle; since the request is replayable we retry once on a fresh
        one. Raises UpstreamError / UpstreamTimeout."""
        for attempt in (0, 1):
            conn = await self.acquire() if attempt == 0 else await self.connect()
            conn.start(head + body if body else head, head_only=head_only, timeout=timeout)
            try:
                await conn.wait_head()
                return conn
            except UpstreamTimeout:
                conn.close()
                raise
            except UpstreamError:
                conn.close()
                if not conn.reused or attempt == 1:
                    raise
        raise AssertionError("unreachable")

    async def open(self, head: bytes, *, head_only: bool, timeout: float) -> UpstreamConnection:
        """Begin a request whose body the caller streams (not replayable, so
        no retry: a stale reused connection surfaces as UpstreamError)."""
        conn = await self.acquire()
        conn.start(head, head_only=head_only, timeout=timeout)
        return conn
