"""Routing, fallback, retired routes and shadowing through the real
forwarder and server, with in-memory upstreams (``FakeUpstream``) and a
fake socket: every decision is checked by what the client receives and
what each upstream was sent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from proxy_fakes import Answer, FakeTransport, FakeUpstream, Script, Sent, split_responses, until

from strangler_proxy import forwarding
from strangler_proxy.breaker import CircuitBreaker
from strangler_proxy.forwarding import REPLAY_LIMIT, Forwarder
from strangler_proxy.health import RouteHealth
from strangler_proxy.metrics import Metrics
from strangler_proxy.routing import RouteTable, TableHolder
from strangler_proxy.server import ClientConnection, ServerLimits
from strangler_proxy.settings import ProxySettings
from strangler_proxy.shadow import Mismatch, ShadowRunner
from strangler_proxy.upstream_port import UpstreamError, UpstreamTimeout

SETTINGS = ProxySettings(
    port=8000,
    legacy_url="http://127.0.0.1:1",
    services={"pricing": "http://127.0.0.1:2"},
    control_database_url="postgresql://unused",
    admin_token="unused",
)
LIMITS = ServerLimits(SETTINGS.max_body_bytes, SETTINGS.max_header_bytes, SETTINGS.max_headers)
ROUTE = "GET,HEAD,POST,PUT /x/"
Response = tuple[int, dict[str, str], bytes]


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


class Rig:
    """One forwarder wired as the app wires it, minus sockets and database."""

    def __init__(self, *routes: dict[str, Any], legacy: Script | None = None, pricing: Script | None = None) -> None:
        self.clock = Clock()
        self.legacy = FakeUpstream("legacy", legacy)
        self.pricing = FakeUpstream("pricing", pricing)
        upstreams = {"legacy": self.legacy, "pricing": self.pricing}
        self.metrics = Metrics()
        self.health = RouteHealth(self.clock)
        self.breaker = CircuitBreaker(failures=3, cooldown_s=10, clock=self.clock)
        self.mismatches: list[Mismatch] = []

        async def store(m: Mismatch) -> None:
            self.mismatches.append(m)

        self.shadow = ShadowRunner(
            upstreams,
            self.metrics,
            max_inflight=4,
            max_body=1 << 20,
            on_mismatch=store,
            on_result=self.health.record_shadow,
        )
        table = RouteTable.from_spec({"routes": list(routes)}, ["pricing"], 1)
        self.forwarder = Forwarder(
            SETTINGS, TableHolder(table), upstreams, {"pricing": self.breaker}, self.metrics, self.shadow, self.health
        )

    def connect(self) -> tuple[ClientConnection, FakeTransport]:
        conn = ClientConnection(self.forwarder, LIMITS, set())
        transport = FakeTransport(conn)
        conn.connection_made(transport)
        return conn, transport

    async def call(
        self,
        method: str = "GET",
        path: str = "/x/",
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        http: str = "1.1",
    ) -> Response:
        """One request on a fresh connection; the answer once it was handled."""
        conn, transport = self.connect()
        head = f"{method} {path} HTTP/{http}\r\nHost: shop\r\n"
        for k, v in {**({"content-length": str(len(body))} if body else {}), **(headers or {})}.items():
            head += f"{k}: {v}\r\n"
        conn.data_received(head.encode() + b"\r\n" + body)
        await until(lambda: not conn.queue)
        [answer] = split_responses(bytes(transport.written))
        return answer

    def counter(self, name: str, *labels: tuple[str, str]) -> float:
        return self.metrics.counters.get((name, tuple(labels)), 0.0)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def new_route(**extra: Any) -> dict[str, Any]:
    return {"methods": ["GET", "HEAD", "POST", "PUT"], "path": "/x/", "mode": "new", "service": "pricing", **extra}


def failing(error: UpstreamError) -> Script:
    return lambda _sent: error


def test_unrouted_requests_go_to_legacy_with_headers_rebuilt_from_the_peer() -> None:
    rig = Rig()

    async def scenario() -> None:
        status, headers, body = await rig.call(path="/elsewhere/?q=1", headers={"X-Forwarded-For": "6.6.6.6"})
        assert (status, body) == (200, b'{"from": "legacy"}')
        assert headers["x-strangler-upstream"] == "legacy" and len(headers["x-request-id"]) == 32
        [sent] = rig.legacy.sent
        assert sent.target == "/elsewhere/?q=1" and sent.headers["x-forwarded-for"] == "10.0.0.7"
        assert rig.pricing.sent == [] and rig.legacy.exchanges[0].fate == "released"

    run(scenario)
    assert rig.counter("strangler_requests_total", ("route", "default"), ("upstream", "legacy"), ("code", "2xx")) == 1


def test_retired_route_answers_410_with_pointer_and_calls_nobody() -> None:
    rig = Rig({"methods": ["GET"], "path": "/old/{rest:path}", "mode": "retired", "pointer": "/new/"})

    async def scenario() -> None:
        status, headers, body = await rig.call(path="/old/report/1")
        assert status == 410 and b'"see": "/new/"' in body
        assert headers["link"] == '</new/>; rel="alternate"'

    run(scenario)
    assert rig.legacy.sent == [] and rig.pricing.sent == []
    assert (
        rig.counter(
            "strangler_requests_total", ("route", "GET /old/{rest:path}"), ("upstream", "retired"), ("code", "4xx")
        )
        == 1
    )


def test_new_route_is_served_by_the_service() -> None:
    rig = Rig(new_route())

    async def scenario() -> None:
        status, headers, body = await rig.call()
        assert (status, headers["x-strangler-upstream"], body) == (200, "pricing", b'{"from": "pricing"}')

    run(scenario)
    assert rig.legacy.sent == [] and rig.breaker.state == "closed"


def test_5xx_from_the_new_service_falls_back_to_legacy_for_idempotent_requests() -> None:
    rig = Rig(new_route(limits={"error_rate": 0.5}), pricing=lambda _s: Answer(503, b"{}"))

    async def scenario() -> None:
        status, headers, _ = await rig.call(method="PUT", body=b'{"a": 1}')
        assert (status, headers["x-strangler-upstream"]) == (200, "legacy")
        assert rig.legacy.sent[0].body == b'{"a": 1}'  # the same body, replayed
        assert rig.pricing.exchanges[0].fate == "closed"  # the 5xx answer is dropped, not pooled

    run(scenario)
    assert rig.counter("strangler_fallbacks_total", ("route", ROUTE), ("upstream", "pricing"), ("reason", "5xx")) == 1
    assert [error for _, error, _ in rig.health.answers[ROUTE]] == [True]


def test_without_fallback_a_5xx_passes_through_and_failures_become_502_504() -> None:
    rig = Rig(new_route(fallback=False), pricing=lambda _s: Answer(503, b'{"down": 1}'))

    async def scenario() -> None:
        status, headers, body = await rig.call()
        assert (status, headers["x-strangler-upstream"], body) == (503, "pricing", b'{"down": 1}')
        rig.pricing.script = failing(UpstreamTimeout("slow"))
        status, _, body = await rig.call()
        assert status == 504 and body == b'{"error": "pricing unavailable"}'
        rig.pricing.script = failing(UpstreamError("refused"))
        assert (await rig.call())[0] == 502

    run(scenario)
    assert rig.legacy.sent == []


def test_a_non_idempotent_request_is_never_replayed_on_legacy() -> None:
    rig = Rig(new_route(), pricing=failing(UpstreamError("refused")))

    async def scenario() -> None:
        status, _, _ = await rig.call(method="POST", body=b"order")
        assert status == 502

    run(scenario)
    assert rig.legacy.sent == [] and [s.body for s in rig.pricing.sent] == [b"order"]


def test_an_open_breaker_sends_nothing_to_the_service_and_falls_back() -> None:
    rig = Rig(new_route(), pricing=failing(UpstreamError("refused")))

    async def scenario() -> None:
        for _ in range(5):
            status, headers, _ = await rig.call()
            assert (status, headers["x-strangler-upstream"]) == (200, "legacy")

    run(scenario)
    assert len(rig.pricing.sent) == 3 and rig.breaker.state == "open"
    labels = (("route", ROUTE), ("upstream", "pricing"))
    assert rig.counter("strangler_fallbacks_total", *labels, ("reason", "error")) == 3
    assert rig.counter("strangler_fallbacks_total", *labels, ("reason", "breaker_open")) == 2
    assert rig.metrics.gauges[("strangler_breaker_state", (("upstream", "pricing"),))] == 2


def test_shadow_answers_from_legacy_then_compares_with_the_service() -> None:
    same: Script = lambda _s: Answer(body=b'{"rate": 5}')  # noqa: E731
    rig = Rig(
        {"methods": ["GET", "POST"], "path": "/x/", "mode": "shadow", "service": "pricing"},
        legacy=same,
        pricing=lambda s: Answer(body=b'{"rate": 6}' if "13" in s.target else b'{"rate": 5}'),
    )
    key = "GET,POST /x/"

    async def scenario() -> None:
        for path in ("/x/?id=1", "/x/?id=13"):
            status, headers, body = await rig.call(path=path)
            assert (status, headers["x-strangler-upstream"], body) == (200, "legacy", b'{"rate": 5}')
        await until(lambda: len(rig.mismatches) == 1 and not rig.shadow.tasks)
        assert (await rig.call(method="POST", body=b"{}"))[0] == 200  # unsafe: not shadowed

    run(scenario)
    assert [s.headers["x-strangler-shadow"] for s in rig.pricing.sent] == ["1", "1"]
    assert rig.mismatches[0].differences == [{"path": "$.rate", "legacy": 5, "new": 6}]
    assert rig.counter("strangler_shadow_total", ("route", key), ("outcome", "match")) == 1
    assert rig.counter("strangler_shadow_total", ("route", key), ("outcome", "mismatch")) == 1
    timed = rig.metrics.hist[("strangler_shadow_duration_seconds", (("route", key), ("upstream", "pricing")))]
    assert sum(timed[:-1]) == 2  # both shadow copies timed (the last slot is the sum of seconds)


def test_canary_sets_a_sticky_cookie_for_anonymous_clients() -> None:
    rig = Rig({"methods": ["GET"], "path": "/x/", "mode": "canary", "service": "pricing", "weight": 0})

    async def scenario() -> None:
        _, headers, _ = await rig.call()
        assert headers["set-cookie"].startswith("strangler_uid=") and headers["x-strangler-upstream"] == "legacy"
        uid = headers["set-cookie"].split(";")[0]
        _, headers, _ = await rig.call(headers={"cookie": uid})
        assert "set-cookie" not in headers

    run(scenario)


def test_dead_legacy_gives_502_and_a_slow_one_504() -> None:
    rig = Rig(legacy=failing(UpstreamError("refused")))

    async def scenario() -> None:
        status, headers, body = await rig.call()
        assert status == 502 and body == b'{"error": "legacy unavailable"}' and "x-request-id" in headers
        rig.legacy.script = failing(UpstreamTimeout("slow"))
        assert (await rig.call())[0] == 504

    run(scenario)
    assert rig.counter("strangler_upstream_errors_total", ("upstream", "legacy")) == 2


def test_unknown_length_answers_are_rechunked_for_http11_and_close_delimited_for_http10() -> None:
    rig = Rig(legacy=lambda _s: Answer(chunks=[b"ab", b"cd"]))

    async def scenario() -> None:
        status, headers, body = await rig.call()
        assert (status, headers["transfer-encoding"], body) == (200, "chunked", b"abcd")
        conn, transport = rig.connect()
        conn.data_received(b"GET /x/ HTTP/1.0\r\nHost: shop\r\n\r\n")
        await transport.wait_closed()
        head, _, body = bytes(transport.written).partition(b"\r\n\r\n")
        assert body == b"abcd" and b"connection: close" in head and b"transfer-encoding" not in head

    run(scenario)


def test_expect_continue_then_a_small_body_is_read_before_any_upstream_is_contacted() -> None:
    """A trickled small body holds a proxy connection, never an upstream worker."""
    rig = Rig()

    async def scenario() -> None:
        conn, transport = rig.connect()
        conn.data_received(b"POST /up/ HTTP/1.1\r\nHost: shop\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n")
        await until(lambda: bytes(transport.written).startswith(b"HTTP/1.1 100 Continue\r\n\r\n"))
        conn.data_received(b"hello")
        for _ in range(50):
            await asyncio.sleep(0)
        assert not rig.legacy.sent
        conn.data_received(b"world")
        await until(lambda: rig.legacy.sent and not conn.queue)
        [sent] = rig.legacy.sent
        assert not sent.streamed and sent.body == b"helloworld"
        assert split_responses(bytes(transport.written))[-1][0] == 200

    run(scenario)


def test_a_large_body_streams_upstream_as_it_arrives() -> None:
    rig = Rig()
    size = REPLAY_LIMIT + 10

    async def scenario() -> None:
        conn, _transport = rig.connect()
        conn.data_received(b"POST /up/ HTTP/1.1\r\nHost: shop\r\nContent-Length: %d\r\n\r\n" % size)
        await until(lambda: rig.legacy.exchanges)
        [sent], [ex] = rig.legacy.sent, rig.legacy.exchanges
        assert sent.streamed and sent.headers["content-length"] == str(size)
        conn.data_received(b"a" * REPLAY_LIMIT)
        conn.data_received(b"b" * 10)
        await until(lambda: len(ex.written) == size and not conn.queue)

    run(scenario)


def test_refused_requests_reach_no_upstream() -> None:
    rig = Rig()

    async def scenario() -> None:
        status, headers, _ = await rig.call(path="/a/../b/")
        assert status == 400 and headers["connection"] == "close"

    run(scenario)
    assert rig.legacy.sent == []
    assert (
        rig.counter("strangler_refused_total", ("status", "400"), ("reason", "path does not normalise to itself")) == 1
    )


def test_sent_is_what_the_upstream_saw() -> None:
    """The fake parses exactly what the forwarder writes: framing included."""
    rig = Rig()

    async def scenario() -> None:
        await rig.call(method="POST", body=b"12345")

    run(scenario)
    assert rig.legacy.sent == [Sent("POST", "/x/", rig.legacy.sent[0].headers, b"12345", False)]
    assert rig.legacy.sent[0].headers["content-length"] == "5"


# -- a write refused because its context's owner just flipped -------------------------

MOVED = b'{"detail": "moved", "code": "writes_moved"}'


def moved_answer(owner: bytes) -> Answer:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(MOVED)).encode()),
        (b"X-Strangler-Writes-Moved", owner),
    ]
    return Answer(409, MOVED, headers)


def write_route(mode: str) -> dict[str, Any]:
    return {"methods": ["POST"], "path": "/x/", "mode": mode, "service": "pricing", "writes": "market"}


def test_a_write_refused_as_moved_goes_to_the_owner_the_flip_names_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Routed by the old table, refused by the side that lost the writes
    (it wrote nothing): sent again, with the same body, where the new table
    routes it; that answer is the client's."""
    monkeypatch.setattr(forwarding, "MOVED_POLL_S", 0.0)  # loop turns, as the rig counts them
    rig = Rig(write_route("legacy"), legacy=lambda _s: moved_answer(b"pricing"))
    flipped = RouteTable.from_spec({"routes": [write_route("new")]}, ["pricing"], 2)

    async def scenario() -> None:
        call = asyncio.create_task(rig.call(method="POST", body=b'{"n": 1}'))
        await until(lambda: len(rig.legacy.sent) == 1)
        rig.forwarder.holder.table = flipped  # the flip's NOTIFY arrives while the refusal waits
        status, headers, _ = await call
        assert (status, headers["x-strangler-upstream"]) == (200, "pricing")

    run(scenario)
    assert [s.body for s in rig.legacy.sent] == [b'{"n": 1}'] and [s.body for s in rig.pricing.sent] == [b'{"n": 1}']
    assert rig.counter("strangler_writes_replayed_total", ("route", "POST /x/"), ("refused_by", "legacy")) == 1


def test_a_moved_refusal_without_a_flip_in_sight_reaches_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table stays the same (e.g. the writes are being handed back): the
    409 is the answer, after a bounded wait, and nothing is sent twice."""
    monkeypatch.setattr(forwarding, "MOVED_TABLE_WAIT_S", 0.0)
    rig = Rig(write_route("legacy"), legacy=lambda _s: moved_answer(b"pricing"))

    async def scenario() -> None:
        status, _, body = await rig.call(method="POST", body=b"{}")
        assert (status, body) == (409, MOVED)

    run(scenario)
    assert len(rig.legacy.sent) == 1 and rig.pricing.sent == []


def test_a_plain_409_of_a_write_route_is_not_replayed() -> None:
    rig = Rig(write_route("legacy"), legacy=lambda _s: Answer(409, b'{"code": "listing_closed"}'))

    async def scenario() -> None:
        assert (await rig.call(method="POST", body=b"{}"))[0] == 409

    run(scenario)
    assert len(rig.legacy.sent) == 1
