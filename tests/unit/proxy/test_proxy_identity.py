"""Identity continuity with fakes: the resolver's cache, TTL, revocation and
coalescing over a fake identity source, the monolith lookup over a fake
upstream, and the forwarder (strip, resolve, 503, invalid, /_internal/)
through the real server with in-memory upstreams."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from proxy_fakes import Answer, FakeTransport, FakeUpstream, Sent, split_responses, until

from new_services.platform.identity import HEADER, Identity, KeyFile, Keyring, ensure_key_file, rotate, verify
from strangler_proxy.breaker import CircuitBreaker
from strangler_proxy.forwarding import Forwarder
from strangler_proxy.health import RouteHealth
from strangler_proxy.identity import (
    IdentityResolver,
    IdentitySource,
    IdentityUnavailable,
    MonolithIdentitySource,
    RotationGrace,
    is_token,
)
from strangler_proxy.metrics import Metrics
from strangler_proxy.routing import RouteTable, TableHolder
from strangler_proxy.server import ClientConnection, ServerLimits
from strangler_proxy.settings import ProxySettings, SettingsError
from strangler_proxy.shadow import Mismatch, ShadowRunner
from strangler_proxy.upstream_port import UpstreamError

KEYRING = Keyring("k1", {"k1": b"s" * 32})
ANN = Identity(auth="token", user_id=7, username="ann", player_id=70, player_status="A")
INTERNAL = "internal-token-for-tests"


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeSource(IdentitySource):
    """Answers from ``users`` (token -> identity; missing: invalid); with
    ``gate`` set, every lookup waits for it; ``down`` makes lookups fail."""

    def __init__(self, users: dict[bytes, Identity] | None = None) -> None:
        self.users = dict(users or {b"Token ann": ANN})
        self.calls: list[bytes] = []
        self.gate: asyncio.Event | None = None
        self.down = False

    async def resolve(self, authorization: bytes) -> Identity:
        self.calls.append(authorization)
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise IdentityUnavailable("monolith unreachable")
        return self.users.get(authorization, Identity(auth="invalid"))


def claims(line: bytes, keyring: Keyring = KEYRING) -> Identity:
    name, _, value = line.partition(b": ")
    assert name == HEADER.encode()
    return verify(value.decode(), keyring, now=1_700_000_000)


def resolver(source: IdentitySource, clock: Clock, ttl_s: float = 5.0, **kw: Any) -> IdentityResolver:
    return IdentityResolver(source, lambda: KEYRING, ttl_s=ttl_s, clock=clock, wall=lambda: 1_700_000_000, **kw)


# -- the resolver -----------------------------------------------------------------------------


def test_a_resolved_token_is_reused_until_its_ttl_ends_then_asked_again() -> None:
    source, clock = FakeSource(), Clock()
    r = resolver(source, clock)

    async def scenario() -> None:
        first = await r.header(b"Token ann")
        assert claims(first) == ANN
        clock.now += 4.9
        assert await r.header(b"Token ann") == first
        assert source.calls == [b"Token ann"]
        clock.now += 0.2
        await r.header(b"Token ann")
        assert source.calls == [b"Token ann", b"Token ann"]

    run(scenario)


def test_a_revoked_token_is_refused_within_the_ttl() -> None:
    source, clock = FakeSource(), Clock()
    r = resolver(source, clock, ttl_s=2.0)

    async def scenario() -> None:
        assert claims(await r.header(b"Token ann")).valid
        del source.users[b"Token ann"]  # the monolith revokes it
        clock.now += 2.0
        assert claims(await r.header(b"Token ann")) == Identity(auth="invalid")

    run(scenario)


def test_the_cache_is_keyed_by_a_hash_of_the_token_and_bounded() -> None:
    source, clock = FakeSource(), Clock()
    r = resolver(source, clock, max_entries=3)

    async def scenario() -> None:
        for n in range(5):
            await r.header(b"Token t%d" % n)
        assert len(r._cache) <= 3
        assert all(len(k) == 32 and b"Token" not in k for k in r._cache)

    run(scenario)


def test_concurrent_lookups_of_one_token_share_one_call_and_a_cancelled_waiter_cancels_nothing() -> None:
    source, clock = FakeSource(), Clock()
    r = resolver(source, clock)

    async def scenario() -> None:
        source.gate = asyncio.Event()
        waiters = [asyncio.create_task(r.header(b"Token ann")) for _ in range(5)]
        other = asyncio.create_task(r.header(b"Token bob"))
        await until(lambda: len(source.calls) == 2)
        waiters[0].cancel()  # that client went away
        source.gate.set()
        lines = await asyncio.gather(*waiters[1:])
        assert len(set(lines)) == 1 and claims(lines[0]) == ANN
        assert claims(await other) == Identity(auth="invalid")
        assert sorted(source.calls) == [b"Token ann", b"Token bob"]
        assert waiters[0].cancelled() and r._inflight == {}

    run(scenario)


def test_an_unavailable_monolith_is_not_cached() -> None:
    source, clock = FakeSource(), Clock()
    source.down = True
    metrics = Metrics()
    r = resolver(source, clock, metrics=metrics)

    async def scenario() -> None:
        for _ in range(2):
            with pytest.raises(IdentityUnavailable):
                await r.header(b"Token ann")
        source.down = False
        assert claims(await r.header(b"Token ann")) == ANN

    run(scenario)
    assert len(source.calls) == 3
    assert metrics.counters[("strangler_identity_lookups_total", (("outcome", "unavailable"),))] == 2


def test_a_rotated_key_file_signs_with_the_new_key_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "identity-keys.json"
    ensure_key_file(path)
    keys = KeyFile(path, check_every_s=0)
    r = IdentityResolver(FakeSource(), keys.keyring, ttl_s=0)

    async def scenario() -> None:
        before = (await r.header(b"Token ann")).split(b": ", 1)[1].decode()
        new_kid = rotate(path)
        after = (await r.header(b"Token ann")).split(b": ", 1)[1].decode()
        assert before.split(".")[1] == "k1" and after.split(".")[1] == new_kid
        assert verify(before, keys.keyring()) == verify(after, keys.keyring()) == ANN  # both still accepted

    run(scenario)


def test_is_token_matches_drf_keyword_only() -> None:
    assert is_token(b"Token abc") and is_token(b"token abc") and is_token(b"TOKEN\tabc")
    assert not is_token(b"Bearer abc") and not is_token(b"Tokenabc") and not is_token(b"Basic eA==")


# -- the monolith lookup -------------------------------------------------------------------


def monolith(users: dict[str, dict[str, Any]]) -> Callable[[Sent], Answer | UpstreamError]:
    """The monolith's /_internal/identity/ as the contract describes it."""

    def answer(sent: Sent) -> Answer | UpstreamError:
        if sent.target != "/_internal/identity/":
            return Answer(body=b'{"from": "legacy"}')
        if sent.headers.get("x-strangler-service-token") != INTERNAL:
            return Answer(401, b'{"detail": "service token required"}')
        key = sent.headers.get("authorization", "").split(" ", 1)[-1]
        if key not in users:
            return Answer(401, b'{"detail": "Invalid token."}')
        return Answer(200, json.dumps(users[key]).encode())

    return answer


ANN_JSON = {"user_id": 7, "username": "ann", "player_id": 70, "player_status": "A"}


def test_the_monolith_is_asked_with_the_service_token_and_its_answers_mapped() -> None:
    legacy = FakeUpstream("legacy", monolith({"ann": ANN_JSON, "nop": {"user_id": 8, "username": "nop"}}))
    source = MonolithIdentitySource(legacy, host="127.0.0.1:8001", service_token=INTERNAL, timeout_s=1.0)

    async def scenario() -> None:
        assert await source.resolve(b"Token ann") == ANN
        assert await source.resolve(b"Token nop") == Identity(auth="token", user_id=8, username="nop")
        assert await source.resolve(b"Token zzz") == Identity(auth="invalid")

    run(scenario)
    sent = legacy.sent[0]
    assert (sent.method, sent.target) == ("GET", "/_internal/identity/")
    assert sent.headers["host"] == "127.0.0.1:8001" and sent.headers["authorization"] == "Token ann"
    assert all(ex.fate == "released" for ex in legacy.exchanges)


@pytest.mark.parametrize(
    "answer",
    [
        UpstreamError("connection refused"),
        Answer(500, b"{}"),
        Answer(403, b'{"detail": "no"}'),
        Answer(200, b"<html>"),
        Answer(200, b'{"user_id": "7", "username": "ann"}'),
    ],
)
def test_anything_but_200_or_401_is_unavailable(answer: Answer | UpstreamError) -> None:
    source = MonolithIdentitySource(
        FakeUpstream("legacy", lambda _s: answer), host="h", service_token=INTERNAL, timeout_s=1.0
    )

    async def scenario() -> None:
        with pytest.raises(IdentityUnavailable):
            await source.resolve(b"Token ann")

    run(scenario)


# -- through the forwarder ---------------------------------------------------------------------

SETTINGS = ProxySettings(
    port=8000,
    legacy_url="http://127.0.0.1:1",
    services={"market": "http://127.0.0.1:2"},
    control_database_url="postgresql://unused",
    admin_token="unused",
)
LIMITS = ServerLimits(SETTINGS.max_body_bytes, SETTINGS.max_header_bytes, SETTINGS.max_headers)


class Rig:
    def __init__(self, *routes: dict[str, Any], identity: bool = True) -> None:
        self.clock = Clock()
        self.legacy = FakeUpstream("legacy", monolith({"ann": ANN_JSON}))
        self.market = FakeUpstream("market")
        upstreams = {"legacy": self.legacy, "market": self.market}
        self.metrics = Metrics()
        self.mismatches: list[Mismatch] = []
        source = MonolithIdentitySource(self.legacy, host="127.0.0.1:1", service_token=INTERNAL, timeout_s=1.0)
        self.identity = (
            IdentityResolver(source, lambda: KEYRING, clock=self.clock, wall=lambda: 1_700_000_000)
            if identity
            else None
        )

        async def store(m: Mismatch) -> None:
            self.mismatches.append(m)

        health = RouteHealth(self.clock)
        self.shadow = ShadowRunner(
            upstreams,
            self.metrics,
            max_inflight=4,
            max_body=1 << 20,
            on_mismatch=store,
            on_result=health.record_shadow,
            identity=self.identity,
        )
        table = RouteTable.from_spec({"routes": list(routes)}, ["market"], 1)
        self.forwarder = Forwarder(
            SETTINGS,
            TableHolder(table),
            upstreams,
            {"market": CircuitBreaker(clock=self.clock)},
            self.metrics,
            self.shadow,
            health,
            identity=self.identity,
        )

    async def call(self, method: str = "GET", path: str = "/x/", headers: dict[str, str] | None = None) -> Answer:
        conn = ClientConnection(self.forwarder, LIMITS, set())
        transport = FakeTransport(conn)
        conn.connection_made(transport)
        head = f"{method} {path} HTTP/1.1\r\nHost: shop\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in (headers or {}).items()
        )
        conn.data_received(head.encode() + b"\r\n")
        await until(lambda: not conn.queue)
        [(status, _headers, body)] = split_responses(bytes(transport.written))
        return Answer(status, body)

    def lookups(self) -> int:
        return sum(s.target == "/_internal/identity/" for s in self.legacy.sent)

    def requests_to_legacy(self) -> list[Sent]:
        return [s for s in self.legacy.sent if s.target != "/_internal/identity/"]


def route(mode: str, **extra: Any) -> dict[str, Any]:
    return {"methods": ["GET", "POST"], "path": "/x/", "mode": mode, "service": "market", **extra}


FORGED = {"X-Strangler-Identity": "v1.k1.forged.forged"}


def identity_of(sent: Sent) -> Identity:
    return verify(sent.headers[HEADER], KEYRING, now=1_700_000_000)


def test_a_new_route_gets_the_signed_identity_and_never_the_clients_own() -> None:
    rig = Rig(route("new"))

    async def scenario() -> None:
        answer = await rig.call(headers={"Authorization": "Token ann", **FORGED})
        assert answer.status == 200
        assert identity_of(rig.market.sent[0]) == ANN
        await rig.call(headers={"Authorization": "Token ann"})  # cached: no second lookup
        await rig.call(headers={"Authorization": "Token revoked-or-wrong"})

    run(scenario)
    assert [identity_of(s).auth for s in rig.market.sent] == ["token", "token", "invalid"]
    assert rig.lookups() == 2 and rig.requests_to_legacy() == []


def test_without_authorization_or_with_another_scheme_there_is_no_lookup_and_no_header() -> None:
    rig = Rig(route("new"))

    async def scenario() -> None:
        await rig.call(headers=FORGED)
        await rig.call(headers={"Authorization": "Bearer abc", **FORGED})

    run(scenario)
    assert rig.lookups() == 0 and all(HEADER not in s.headers for s in rig.market.sent)
    assert [s.headers.get("authorization") for s in rig.market.sent] == [None, "Bearer abc"]


def test_legacy_routes_never_resolve_and_never_forward_an_identity() -> None:
    rig = Rig(route("legacy"))

    async def scenario() -> None:
        await rig.call(headers={"Authorization": "Token ann", **FORGED})
        await rig.call(path="/unrouted/", headers={"Authorization": "Token ann", **FORGED})

    run(scenario)
    assert rig.lookups() == 0 and len(rig.requests_to_legacy()) == 2
    assert all(HEADER not in s.headers for s in rig.legacy.sent)


def test_canary_resolves_only_for_requests_that_go_to_the_new_side() -> None:
    rig = Rig(route("canary", weight=100), {"methods": ["GET"], "path": "/y/", "mode": "canary", "service": "market"})

    async def scenario() -> None:
        await rig.call(headers={"Authorization": "Token ann"})
        await rig.call(path="/y/", headers={"Authorization": "Token ann", **FORGED})  # weight 0: legacy

    run(scenario)
    assert identity_of(rig.market.sent[0]) == ANN and len(rig.market.sent) == 1
    [to_legacy] = rig.requests_to_legacy()
    assert to_legacy.target == "/y/" and HEADER not in to_legacy.headers and rig.lookups() == 1


def test_the_shadow_copy_carries_the_identity_and_legacy_does_not() -> None:
    rig = Rig(route("shadow"))

    async def scenario() -> None:
        answer = await rig.call(headers={"Authorization": "Token ann", **FORGED})
        assert answer.body == b'{"from": "legacy"}'
        await until(lambda: rig.market.sent and not rig.shadow.tasks)

    run(scenario)
    assert identity_of(rig.market.sent[0]) == ANN
    assert all(HEADER not in s.headers for s in rig.requests_to_legacy())


def test_an_unreachable_monolith_is_503_and_the_service_is_not_called() -> None:
    rig = Rig(route("new"), route("shadow", path="/s/"))
    rig.legacy.script = lambda _s: UpstreamError("connection refused")

    async def scenario() -> None:
        answer = await rig.call(method="POST", headers={"Authorization": "Token ann", "Content-Length": "0"})
        assert (answer.status, json.loads(answer.body)) == (503, {"error": "identity unavailable"})
        assert (await rig.call(headers={"Authorization": "Token ann"})).status == 503
        assert (await rig.call()).status == 200  # no token: nothing to resolve

    run(scenario)
    assert len(rig.market.sent) == 1 and HEADER not in rig.market.sent[0].headers


def test_a_shadow_copy_whose_identity_cannot_be_resolved_is_skipped() -> None:
    rig = Rig(route("shadow"))

    def legacy(sent: Sent) -> Answer | UpstreamError:
        if sent.target == "/_internal/identity/":
            return Answer(502, b"{}")
        return Answer(body=b'{"from": "legacy"}')

    rig.legacy.script = legacy

    async def scenario() -> None:
        assert (await rig.call(headers={"Authorization": "Token ann"})).status == 200
        await until(lambda: not rig.shadow.tasks and rig.lookups() == 1)

    run(scenario)
    assert rig.market.sent == []
    assert rig.metrics.counters[("strangler_shadow_total", (("route", "GET,POST /x/"), ("outcome", "skipped")))] == 1


def test_a_fallback_to_legacy_does_not_carry_the_identity() -> None:
    rig = Rig(route("new", fallback=True))
    rig.market.script = lambda _s: Answer(503, b"{}")

    async def scenario() -> None:
        assert (await rig.call(headers={"Authorization": "Token ann"})).body == b'{"from": "legacy"}'

    run(scenario)
    assert HEADER in rig.market.sent[0].headers
    [fallback] = rig.requests_to_legacy()
    assert HEADER not in fallback.headers


def test_internal_paths_are_404_on_the_public_port() -> None:
    rig = Rig(route("new"))

    async def scenario() -> None:
        for path in ("/_internal/identity/", "/_internal", "/_internal/settlements/x/reverse/"):
            assert (await rig.call(path=path, headers={"Authorization": "Token ann"})).status == 404
        assert (await rig.call(path="/_internalx/")).status == 200  # only the prefix itself

    run(scenario)
    assert [s.target for s in rig.legacy.sent] == ["/_internalx/"]


def test_without_identity_settings_headers_are_still_stripped() -> None:
    rig = Rig(route("new"), identity=False)

    async def scenario() -> None:
        await rig.call(headers={"Authorization": "Token ann", **FORGED})

    run(scenario)
    assert HEADER not in rig.market.sent[0].headers and rig.lookups() == 0


# -- settings --------------------------------------------------------------------------------

BASE = {
    "STRANGLER_PROXY_PORT": "8000",
    "STRANGLER_LEGACY_URL": "http://127.0.0.1:1",
    "STRANGLER_CONTROL_DATABASE_URL": "postgresql://x",
    "STRANGLER_ADMIN_TOKEN": "t",
}


def test_identity_settings_come_together_with_a_bounded_ttl() -> None:
    s = ProxySettings.from_env({**BASE, "STRANGLER_IDENTITY_KEYS": "/k.json", "STRANGLER_INTERNAL_TOKEN": "i"})
    assert (s.identity_keys, s.internal_token, s.identity_ttl_s) == ("/k.json", "i", 5.0)
    assert "'i'" not in repr(s)
    assert ProxySettings.from_env(BASE).identity_keys is None
    with pytest.raises(SettingsError, match="STRANGLER_INTERNAL_TOKEN"):
        ProxySettings.from_env({**BASE, "STRANGLER_IDENTITY_KEYS": "/k.json"})
    with pytest.raises(SettingsError, match="STRANGLER_IDENTITY_TTL_S"):
        ProxySettings.from_env({**BASE, "STRANGLER_IDENTITY_TTL_S": "600"})
    assert ProxySettings.from_env({**BASE, "STRANGLER_IDENTITY_TTL_S": "0.5"}).identity_ttl_s == 0.5


def test_a_new_key_signs_only_after_the_readers_had_time_to_load_it(tmp_path: Path) -> None:
    path = tmp_path / "identity-keys.json"
    ensure_key_file(path)
    clock = Clock()
    signing = RotationGrace(KeyFile(path, check_every_s=0).keyring, grace_s=2.0, clock=clock)
    assert signing().active == "k1"
    new_kid = rotate(path)
    assert signing().active == "k1"  # a service may not have reloaded the file yet
    clock.now += 1.9
    assert signing().active == "k1"
    clock.now += 0.1
    ring = signing()
    assert ring.active == new_kid and set(ring.keys) == {"k1", new_kid}
