"""In-memory stand-ins for the proxy's ports, for unit tests only.

Each fake subclasses the real base (``asyncio.Transport``) or Protocol
(``Upstream``, ``Exchange``, ``RouteRepository``) so a signature drift shows up
in mypy and at the first call, instead of a mock silently accepting it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


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
                body, rest = body + rest[:size], rest[size + 2:]
                if size == 0:
                    break
        else:
            n = int(headers.get("content-length", "0"))
            body, rest = rest[:n], rest[n:]
        out.append((status, headers, body))
    return out
