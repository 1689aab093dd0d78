"""The client-facing server against a fake ``RequestHandler``: parsing,
ordering of pipelined requests, parser-level refusals and closing rules."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from proxy_fakes import FakeTransport, split_responses, until

from strangler_proxy.server import (
    BodyTimeout,
    BodyTooLarge,
    ClientConnection,
    IncomingRequest,
    RequestHandler,
    ServerLimits,
)
from strangler_proxy.wire import simple_response

LIMITS = ServerLimits(max_body=1000, max_header_bytes=2048, max_headers=20)


class EchoHandler(RequestHandler):
    """Answers each request with its method, target and body."""

    def __init__(self, keep: bool = True) -> None:
        self.keep = keep
        self.seen: list[tuple[str, bytes, bytes]] = []
        self.refusals: list[tuple[int, str]] = []
        self.body_errors = 0

    async def handle(self, req: IncomingRequest, conn: ClientConnection) -> bool:
        try:
            body = await req.read_all()
        except BodyTooLarge:
            self.body_errors += 1
            conn.write(simple_response(413, b"{}", close=True))
            return False
        self.seen.append((req.method, req.target, body))
        conn.write(
            simple_response(200, req.method.encode() + b" " + req.target + b" " + body, close=not req.keep_alive)
        )
        return self.keep

    def refused(self, status: int, reason: str) -> None:
        self.refusals.append((status, reason))


def serve(
    handler: RequestHandler, scenario: Callable[[ClientConnection, FakeTransport], Awaitable[None]]
) -> set[ClientConnection]:
    registry: set[ClientConnection] = set()

    async def main() -> None:
        conn = ClientConnection(handler, LIMITS, registry)
        transport = FakeTransport(conn)
        conn.connection_made(transport)
        assert registry == {conn}
        await scenario(conn, transport)

    asyncio.run(main())
    return registry


def test_pipelined_requests_are_served_in_order_and_the_last_closes() -> None:
    handler = EchoHandler()

    async def scenario(conn: ClientConnection, t: FakeTransport) -> None:
        conn.data_received(
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nab"
        )
        conn.data_received(b"cGET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await t.wait_closed()
        answers = split_responses(bytes(t.written))
        assert [body for _, _, body in answers] == [b"GET /a ", b"POST /b abc", b"GET /c "]
        assert answers[-1][1]["connection"] == "close"

    registry = serve(handler, scenario)
    assert [s[1] for s in handler.seen] == [b"/a", b"/b", b"/c"]
    assert registry == set()  # the lost connection removed itself


def test_oversized_headers_are_refused_by_the_parser_and_never_handled() -> None:
    handler = EchoHandler()

    async def scenario(conn: ClientConnection, t: FakeTransport) -> None:
        conn.data_received(b"GET /a HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n")
        await t.wait_closed()
        [(status, headers, _)] = split_responses(bytes(t.written))
        assert status == 431 and headers["connection"] == "close"

    serve(handler, scenario)
    assert handler.seen == [] and handler.refusals == [(431, "request headers too large")]


def test_garbage_after_a_request_in_progress_lets_it_finish_first() -> None:
    class SlowHandler(EchoHandler):
        def __init__(self) -> None:
            super().__init__()
            self.started = asyncio.Event()
            self.release = asyncio.Event()

        async def handle(self, req: IncomingRequest, conn: ClientConnection) -> bool:
            self.started.set()
            await self.release.wait()
            return await super().handle(req, conn)

    handler = SlowHandler()

    async def scenario(conn: ClientConnection, t: FakeTransport) -> None:
        conn.data_received(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(handler.started.wait(), 5)  # the handler loop picked up /a and waits
        conn.data_received(b"GET /b HTTP/1.1\r\nBad Header: x\r\n\r\n")
        assert t.written == b""  # the refusal waits for /a's answer
        handler.release.set()
        await t.wait_closed()
        statuses = [status for status, _, _ in split_responses(bytes(t.written))]
        assert statuses == [200, 400]

    serve(handler, scenario)
    assert [s[1] for s in handler.seen] == [b"/a"] and handler.refusals[0][0] == 400


def test_body_over_the_limit_stops_reading_and_the_handler_learns_it() -> None:
    handler = EchoHandler()

    async def scenario(conn: ClientConnection, t: FakeTransport) -> None:
        conn.data_received(b"POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        conn.data_received(b"3e8\r\n" + b"x" * 1000 + b"\r\n")
        assert not t.paused
        conn.data_received(b"1\r\ny\r\n")
        assert t.paused  # no more reading once over the limit
        await until(lambda: t.eof)
        # a lingering close: our side is shut (FIN) but the rest of the body is
        # still read and dropped for a moment, so the client gets the answer, not a RST
        assert not t.closed.is_set() and not t.paused
        assert split_responses(bytes(t.written))[0][0] == 413
        conn.close()

    serve(handler, scenario)
    assert handler.body_errors == 1 and handler.seen == []


def test_http10_and_handler_refusal_close_the_connection() -> None:
    for request, keep in (
        (b"GET /a HTTP/1.0\r\nHost: x\r\n\r\n", True),
        (b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", False),
    ):
        handler = EchoHandler(keep=keep)

        async def scenario(conn: ClientConnection, t: FakeTransport, request: bytes = request) -> None:
            conn.data_received(request)
            await t.wait_closed()
            assert split_responses(bytes(t.written))[0][0] == 200

        serve(handler, scenario)
        assert len(handler.seen) == 1


# -- deadlines and the connection cap (slowloris) ------------------------------------------

QUICK = ServerLimits(
    max_body=1000, max_header_bytes=2048, max_headers=20, header_timeout=0.05, body_timeout=0.05, idle_timeout=0.05
)


class BodyWaiter(EchoHandler):
    """Reads the body; a body past its deadline is answered 408."""

    async def handle(self, req: IncomingRequest, conn: ClientConnection) -> bool:
        try:
            return await super().handle(req, conn)
        except BodyTimeout:
            conn.write(simple_response(408, b"{}", close=True))
            return False


def quick(handler: RequestHandler, scenario: Callable[[ClientConnection, FakeTransport], Awaitable[None]]) -> None:
    async def main() -> None:
        conn = ClientConnection(handler, QUICK, set())
        transport = FakeTransport(conn)
        conn.connection_made(transport)
        await scenario(conn, transport)

    asyncio.run(main())


def test_a_head_that_misses_its_deadline_is_answered_408_and_closed() -> None:
    handler = EchoHandler()

    async def scenario(conn: ClientConnection, transport: FakeTransport) -> None:
        conn.data_received(b"GET /slow HTTP/1.1\r\nHost: a\r\n")
        await transport.wait_closed()
        [(status, headers, _)] = split_responses(bytes(transport.written))
        assert status == 408 and headers["connection"] == "close" and handler.seen == []

    quick(handler, scenario)
    assert handler.refusals == [(408, "request head not received in time")]


def test_a_body_that_misses_its_deadline_ends_the_wait_for_it() -> None:
    handler = BodyWaiter()

    async def scenario(conn: ClientConnection, transport: FakeTransport) -> None:
        conn.data_received(b"POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        await transport.wait_closed()
        assert split_responses(bytes(transport.written))[0][0] == 408 and handler.seen == []

    quick(handler, scenario)


def test_an_idle_keep_alive_connection_is_closed_without_an_answer() -> None:
    async def scenario(conn: ClientConnection, transport: FakeTransport) -> None:
        conn.data_received(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
        await transport.wait_closed()
        assert [r[0] for r in split_responses(bytes(transport.written))] == [200]

    quick(EchoHandler(), scenario)


def test_one_connection_over_the_cap_gets_503_and_is_not_registered() -> None:
    handler = EchoHandler()
    limits = ServerLimits(max_body=1000, max_header_bytes=2048, max_headers=20, max_connections=1)

    async def main() -> None:
        registry: set[ClientConnection] = set()
        first = ClientConnection(handler, limits, registry)
        first.connection_made(FakeTransport(first))
        extra = ClientConnection(handler, limits, registry)
        transport = FakeTransport(extra)
        extra.connection_made(transport)
        assert registry == {first}
        [(status, headers, _)] = split_responses(bytes(transport.written))
        assert status == 503 and headers["retry-after"] == "1" and transport.eof
        await transport.wait_closed()
        first.close()

    asyncio.run(main())
    assert handler.refusals == [(503, "too many client connections")]
