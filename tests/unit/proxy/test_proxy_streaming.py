"""Byte moving between a client and an upstream exchange: shadow capture
limits, an upstream dying mid-body, a client body over the limit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from proxy_fakes import Answer, FakeExchange, FakeTransport, FakeUpstream, until

from strangler_proxy.server import ClientConnection, IncomingRequest, RequestHandler, ServerLimits
from strangler_proxy.streaming import pump_body, relay_response
from strangler_proxy.upstream_port import UpstreamError


class StagedExchange(FakeExchange):
    """Body pieces arrive one ``wait()`` at a time; then the answer ends, or
    fails with ``error_at_end``."""

    def __init__(self, stages: list[list[bytes]], error_at_end: UpstreamError | None = None) -> None:
        super().__init__(FakeUpstream("legacy"), Answer(chunks=stages[0]), head_only=False)
        self.stages = stages[1:]
        self.error_at_end = error_at_end
        self.complete = not self.stages and error_at_end is None

    async def wait(self) -> None:
        await asyncio.sleep(0)
        if self.stages:
            self._chunks.extend(self.stages.pop(0))
        if not self.stages:
            if self.error_at_end is None:
                self.complete = True
            else:
                self.error = self.error_at_end


class Idle(RequestHandler):
    async def handle(self, req: IncomingRequest, conn: ClientConnection) -> bool:
        return True

    def refused(self, status: int, reason: str) -> None:
        pass


def with_client(
    scenario: Callable[[ClientConnection, FakeTransport, IncomingRequest], Coroutine[Any, Any, None]],
) -> None:
    async def main() -> None:
        conn = ClientConnection(Idle(), ServerLimits(10, 4096, 50), set())
        transport = FakeTransport(conn)
        conn.connection_made(transport)
        req = IncomingRequest(conn, "GET", b"/x/", [(b"host", b"a")], True, True)
        await scenario(conn, transport, req)

    asyncio.run(main())


def test_capture_keeps_the_body_up_to_the_limit_and_the_client_gets_all_of_it() -> None:
    async def scenario(conn: ClientConnection, t: FakeTransport, req: IncomingRequest) -> None:
        up = StagedExchange([[b"abc"], [b"def"]])
        keep, captured = await relay_response(up, req, conn, [b"x-request-id: r"], capture_limit=6)
        assert keep and captured == b"abcdef" and up.fate == "released"
        up = StagedExchange([[b"abc"], [b"defg"]])
        keep, captured = await relay_response(up, req, conn, [], capture_limit=6)
        assert keep and captured is None  # over the limit: not compared, still relayed
        assert bytes(t.written).endswith(b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")

    with_client(scenario)


def test_an_upstream_dying_mid_body_closes_the_client_connection() -> None:
    async def scenario(conn: ClientConnection, t: FakeTransport, req: IncomingRequest) -> None:
        up = StagedExchange([[b"abc"], [b"def"]], error_at_end=UpstreamError("reset"))
        keep, captured = await relay_response(up, req, conn, [], capture_limit=100)
        assert (keep, captured) == (False, None)
        assert conn.closed and up.fate == "released"  # released last: the pool closes an incomplete exchange
        assert not bytes(t.written).endswith(b"0\r\n\r\n")  # the client never sees a complete body

    with_client(scenario)


def test_a_client_body_over_the_limit_fails_the_upstream_exchange() -> None:
    async def scenario(conn: ClientConnection, t: FakeTransport, req: IncomingRequest) -> None:
        up = FakeExchange(FakeUpstream("legacy"), Answer(), head_only=False)
        pump = asyncio.get_running_loop().create_task(pump_body(req, up, chunked=True))
        req.feed(b"12345")
        await until(lambda: bytes(up.written) == b"5\r\n12345\r\n")
        req.feed(b"678901")  # 11 bytes > 10
        await pump
        assert up.fate == "failed" and isinstance(up.error, UpstreamError)
        assert not bytes(up.written).endswith(b"0\r\n\r\n")  # never completed upstream

    with_client(scenario)
