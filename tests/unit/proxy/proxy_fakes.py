"""In-memory stand-ins for the proxy's ports, for unit tests only.

Each fake subclasses the real base (``asyncio.Transport``) or Protocol
(``Upstream``, ``Exchange``, ``RouteRepository``) so a signature drift shows up
in mypy and at the first call, instead of a mock silently accepting it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from strangler_proxy.memory_routes import InMemoryRouteRepository
from strangler_proxy.upstream_port import Exchange, Upstream, UpstreamError


class FakeTransport(asyncio.Transport):
    """A socket that records what the protocol writes; closing it reports
    ``connection_lost`` on the next loop turn, as a real transport does."""

    def __init__(self, protocol: asyncio.BaseProtocol, peer: tuple[str, int] = ("10.0.0.7", 40000)) -> None:
        super().__init__()
        self.protocol = protocol
        self.peer = peer
        self.written = bytearray()
        self.closed = asyncio.Event()
        self.paused = False
        self.eof = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed.is_set(), "write after close"
        self.written += data

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self.closed.is_set()

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def is_reading(self) -> bool:
        return not self.paused

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default

    async def wait_closed(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self.closed.wait(), timeout)


async def until(predicate: Callable[[], object], turns: int = 1000) -> None:
    """Let the loop run until ``predicate()`` holds (no wall-clock sleeps:
    everything here is in memory, so a few loop turns are enough)."""
    for _ in range(turns):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


def split_responses(raw: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Parse back-to-back HTTP/1.1 answers with Content-Length or chunked
    bodies (enough for what the proxy writes) into (status, headers, body)."""
    out = []
    rest = bytes(raw)
    while rest:
        head, _, rest = rest.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if status == 100:
            continue
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line, 16)
                body, rest = body + rest[:size], rest[size + 2 :]
                if size == 0:
                    break
        else:
            n = int(headers.get("content-length", "0"))
            body, rest = rest[:n], rest[n:]
        out.append((status, headers, body))
    return out


# -- the Upstream port, in memory ----------------------------------------------------------


@dataclass
class Sent:
    """A request as an upstream received it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    streamed: bool


@dataclass
class Answer:
    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: list[tuple[bytes, bytes]] | None = None  # default: JSON with a Content-Length
    chunks: list[bytes] | None = None  # body delivered in these pieces (no Content-Length)

    def head(self) -> list[tuple[bytes, bytes]]:
        if self.headers is not None:
            return list(self.headers)
        if self.chunks is not None:
            return [(b"content-type", b"application/octet-stream"), (b"transfer-encoding", b"chunked")]
        return [(b"content-type", b"application/json"), (b"content-length", str(len(self.body)).encode())]


Script = Callable[[Sent], "Answer | UpstreamError"]


class FakeExchange(Exchange):
    """An answer that is entirely there at once (or an error raised by
    ``wait_head``); records what the forwarder did with it."""

    def __init__(self, upstream: FakeUpstream, answer: Answer, head_only: bool) -> None:
        self.upstream = upstream
        self.status = answer.status
        self.reason = b""
        self.headers = answer.head()
        body_chunks = answer.chunks if answer.chunks is not None else ([answer.body] if answer.body else [])
        self._chunks = [] if head_only else list(body_chunks)
        self.complete = True
        self.keep_alive = True
        self.error: UpstreamError | None = None
        self.written = bytearray()
        self.fate = "open"

    async def wait_head(self) -> None:
        return None

    async def wait(self) -> None:
        return None

    def take(self) -> list[bytes]:
        chunks, self._chunks = self._chunks, []
        return chunks

    async def read_all(self, limit: int) -> bytes:
        data = b"".join(self.take())
        if len(data) > limit:
            raise UpstreamError("body too large to compare")
        return data

    def write(self, data: bytes) -> None:
        self.written += data

    async def drain(self) -> None:
        return None

    def fail(self, error: UpstreamError) -> None:
        self.error = error
        self.fate = "failed"

    def release(self) -> None:
        self.fate = "released"

    def close(self) -> None:
        self.fate = "closed"

    def abort(self) -> None:
        self.fate = "aborted"


class FakeUpstream(Upstream):
    """An upstream whose answers come from ``script`` (default: 200 JSON).
    A script may return an ``UpstreamError`` (or ``UpstreamTimeout``) to
    make the call fail before a response head, as a dead or slow service."""

    def __init__(self, name: str, script: Script | None = None) -> None:
        self.name = name
        self.script: Script = script or (lambda _sent: Answer(body=b'{"from": "%s"}' % name.encode()))
        self.sent: list[Sent] = []
        self.exchanges: list[FakeExchange] = []

    def _answer(self, head: bytes, body: bytes, head_only: bool, streamed: bool) -> FakeExchange:
        request_line, *header_lines = head.decode("latin-1").split("\r\n\r\n", 1)[0].split("\r\n")
        method, target, _ = request_line.split(" ")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        sent = Sent(method, target, headers, body, streamed)
        self.sent.append(sent)
        answer = self.script(sent)
        if isinstance(answer, UpstreamError):
            raise answer
        ex = FakeExchange(self, answer, head_only)
        self.exchanges.append(ex)
        return ex

    async def send(self, head: bytes, body: bytes, *, head_only: bool, timeout: float) -> FakeExchange:
        return self._answer(head, body, head_only, streamed=False)

    async def open(self, head: bytes, *, head_only: bool, timeout: float) -> FakeExchange:
        return self._answer(head, b"", head_only, streamed=True)

    def close(self) -> None:
        return None


# -- the RouteRepository port, in memory ---------------------------------------------------

FakeRouteRepository = InMemoryRouteRepository
