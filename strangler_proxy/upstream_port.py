"""The upstream port: what the forwarder and the shadow runner need from
"an upstream", whatever carries the bytes.

``upstream.UpstreamPool`` implements it with pooled keep-alive sockets; unit
tests implement it in memory, so routing, fallback and retired handling are
tested through the real forwarder without a socket. The shape follows
httpx's ``BaseTransport``/``MockTransport``: the caller hands over a ready
request head, gets back an exchange to read the answer from.
"""

from __future__ import annotations

from typing import Protocol


class UpstreamError(Exception):
    """The upstream failed before a complete response head (connect,
    reset, protocol error): safe to fall back or retry if replayable."""


class UpstreamTimeout(UpstreamError):
    """No response head (or no body progress) within the timeout."""


class Exchange(Protocol):
    """One request/response in flight on one upstream connection.

    The answer arrives incrementally: ``status``/``headers`` once the head is
    in, body bytes through ``take()``; ``wait()`` returns when something new
    arrived. ``release()`` must be called once the answer was consumed (the
    connection goes back to the pool if it can be reused); ``close()`` or
    ``abort()`` instead when the answer is abandoned."""

    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    complete: bool
    keep_alive: bool
    error: UpstreamError | None

    async def wait_head(self) -> None:
        """Until the response head is in; raises UpstreamError/UpstreamTimeout."""

    async def wait(self) -> None:
        """Until more body, its end, or an error (at once if already there)."""

    def take(self) -> list[bytes]:
        """Body chunks received since the last call (resumes reading)."""

    async def read_all(self, limit: int) -> bytes:
        """The whole body; raises UpstreamError beyond ``limit`` bytes."""

    def write(self, data: bytes) -> None:
        """More request body, for an exchange begun with ``Upstream.open``."""

    async def drain(self) -> None:
        """Until the upstream has taken what was written (back-pressure)."""

    def fail(self, error: UpstreamError) -> None:
        """Abandon the exchange with ``error`` (e.g. the client's body went
        over the limit): the answer will not be complete."""

    def release(self) -> None:
        """Done reading: reuse the connection if possible, else close it."""

    def close(self) -> None: ...

    def abort(self) -> None:
        """Drop the connection now, unsent bytes included."""


class Upstream(Protocol):
    """One configured upstream (legacy or a new service)."""

    name: str

    async def send(self, head: bytes, body: bytes, *, head_only: bool, timeout: float) -> Exchange:
        """Send a fully buffered request and wait for the response head. The
        request is replayable, so an implementation may retry it once when a
        reused keep-alive connection turns out to be stale."""

    async def open(self, head: bytes, *, head_only: bool, timeout: float) -> Exchange:
        """Start a request whose body the caller streams with
        ``Exchange.write``; returns before the response head."""

    def close(self) -> None:
        """Close idle connections (shutdown)."""
