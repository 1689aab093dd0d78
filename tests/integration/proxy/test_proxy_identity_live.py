"""Identity continuity and write owners with real processes: the proxy as
``strangler up`` starts it, a monolith stand-in serving ``/_internal/identity/``
over loopback HTTP (a thread of this test, so a test can revoke a token,
slow it down or stop it), the ``pricing`` echo upstream as the new service,
and the control database on the session's PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from proxy_support import ProxyProc, StartProxy, Upstream

from local_stack.processes import wait_until
from new_services.platform.identity import HEADER, Identity, KeyFile, ensure_key_file, rotate, verify

INTERNAL = "integration-internal-token-0123456789"
ANN = {"user_id": 7, "username": "ann", "player_id": 70, "player_status": "A"}
ROUTE = "GET,POST /x/"


class Monolith:
    """``/_internal/identity/`` as the contract describes it, plus a plain
    JSON answer for everything else (what legacy serves)."""

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {"ann-key": dict(ANN)}
        self.lookups = 0
        self.requests: list[str] = []
        self.delay = 0.0
        self.lock = threading.Lock()
        monolith = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                status, payload = monolith.answer(self.path, dict(self.headers.items()))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        lowered = {k.lower(): v for k, v in headers.items()}
        with self.lock:
            self.requests.append(path)
        if not path.startswith("/_internal/identity/"):
            return 200, {"from": "legacy", "identity": lowered.get(HEADER)}
        with self.lock:
            self.lookups += 1
        time.sleep(self.delay)
        if lowered.get("x-strangler-service-token") != INTERNAL:
            return 401, {"detail": "service token required"}
        key = lowered.get("authorization", "").split(" ", 1)[-1]
        user = self.users.get(key)
        return (200, user) if user else (401, {"detail": "Invalid token."})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def monolith() -> Iterator[Monolith]:
    m = Monolith()
    yield m
    if m.thread.is_alive():
        m.stop()


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    path = tmp_path / "identity-keys.json"
    ensure_key_file(path)
    return path


def identity_proxy(start_proxy: StartProxy, monolith: Monolith, keys: Path, pricing: Upstream, **env: str) -> ProxyProc:
    proxy = start_proxy(
        STRANGLER_LEGACY_URL=monolith.url,
        STRANGLER_SERVICES=json.dumps({"pricing": pricing.url, "market": pricing.url}),
        STRANGLER_IDENTITY_KEYS=str(keys),
        STRANGLER_INTERNAL_TOKEN=INTERNAL,
        **env,
    )
    proxy.set_route(ROUTE, "new", service="pricing", fallback=False)
    return proxy


def seen_identity(proxy: ProxyProc, keys: Path, token: str | None = "ann-key") -> Identity | None:
    """What the new service received as identity for one request."""
    headers = {"x-strangler-identity": "v1.k1.forged.forged"}
    if token is not None:
        headers["authorization"] = f"Token {token}"
    r = httpx.get(proxy.url + "/x/", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    value = r.json()["headers"].get(HEADER)
    return None if value is None else verify(value, KeyFile(keys).keyring())


def test_the_service_receives_the_signed_identity_and_a_revocation_within_the_ttl(
    start_proxy: StartProxy, monolith: Monolith, keys: Path, pricing: Upstream
) -> None:
    proxy = identity_proxy(start_proxy, monolith, keys, pricing, STRANGLER_IDENTITY_TTL_S="1")
    assert seen_identity(proxy, keys) == Identity(auth="token", **ANN)
    assert seen_identity(proxy, keys) == Identity(auth="token", **ANN)
    assert monolith.lookups == 1  # the second one came from the cache
    assert seen_identity(proxy, keys, "nobody") == Identity(auth="invalid")
    assert seen_identity(proxy, keys, None) is None  # anonymous: no header, the forged one dropped
    del monolith.users["ann-key"]
    revoked = time.monotonic()
    wait_until(lambda: seen_identity(proxy, keys) == Identity(auth="invalid"), timeout=10, what="revocation")
    assert time.monotonic() - revoked < 1.0 + 1.0  # the TTL, plus a request's worth of slack


def test_concurrent_requests_with_one_token_make_one_lookup(
    start_proxy: StartProxy, monolith: Monolith, keys: Path, pricing: Upstream
) -> None:
    proxy = identity_proxy(start_proxy, monolith, keys, pricing)
    monolith.delay = 0.3  # every request arrives while the first lookup is still out

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=10) as client:
            calls = [client.get(proxy.url + "/x/", headers={"authorization": "Token ann-key"}) for _ in range(12)]
            return await asyncio.gather(*calls)

    answers = asyncio.run(burst())
    assert [r.status_code for r in answers] == [200] * 12
    assert len({r.json()["headers"][HEADER] for r in answers}) == 1
    assert monolith.lookups == 1


def test_an_unreachable_monolith_is_503_and_internal_paths_are_404(
    start_proxy: StartProxy, monolith: Monolith, keys: Path, pricing: Upstream
) -> None:
    proxy = identity_proxy(start_proxy, monolith, keys, pricing)
    r = httpx.get(proxy.url + "/_internal/identity/", headers={"authorization": "Token ann-key"}, timeout=10)
    assert r.status_code == 404 and monolith.requests == []
    before = pricing.count()
    monolith.stop()
    r = httpx.get(proxy.url + "/x/", headers={"authorization": "Token ann-key"}, timeout=10)
    assert (r.status_code, r.json()) == (503, {"error": "identity unavailable"})
    assert pricing.count() == before  # nothing forwarded without its identity
    assert seen_identity(proxy, keys, None) is None  # no token: served as before


def test_a_key_rotation_reaches_the_running_proxy_without_a_restart(
    start_proxy: StartProxy, monolith: Monolith, keys: Path, pricing: Upstream
) -> None:
    proxy = identity_proxy(start_proxy, monolith, keys, pricing, STRANGLER_IDENTITY_TTL_S="0")

    def kid() -> str:
        r = httpx.get(proxy.url + "/x/", headers={"authorization": "Token ann-key"}, timeout=10)
        value = r.json()["headers"][HEADER]
        assert verify(value, KeyFile(keys).keyring()).username == "ann"  # valid at every moment
        return str(value.split(".")[1])

    assert kid() == "k1"
    new_kid = rotate(keys)
    wait_until(lambda: kid() == new_kid, timeout=10, what="signing with the rotated key")
    assert proxy.process.alive()


# -- write owners in the control database ------------------------------------------------------

WRITES = [
    {"methods": ["POST"], "path": "/api/listings/", "service": "market", "writes": "market"},
    {"methods": ["POST"], "path": "/api/listings/{id}/cancel/", "service": "market", "writes": "market"},
    {"methods": ["POST"], "path": "/api/sales/", "service": "market", "writes": "market"},
]


def table(mode: str) -> list[dict[str, Any]]:
    return [dict(r, mode=mode) for r in WRITES]


def owner_rows(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT o.context, o.owner, o.route_version, o.since = v.created_at FROM strangler_write_owners o"
            " JOIN strangler_route_versions v ON v.version = o.route_version ORDER BY o.context"
        ).fetchall()


def test_the_owner_row_is_written_with_the_route_version_that_flips_the_writes(
    start_proxy: StartProxy, control_dsn: str, pricing: Upstream
) -> None:
    proxy = start_proxy(STRANGLER_SERVICES=json.dumps({"pricing": pricing.url, "market": pricing.url}))
    assert proxy.admin("GET", "/owners").json()["owners"] == []
    declared = proxy.apply(table("legacy")).json()["version"]
    assert owner_rows(control_dsn) == [("market", "legacy", declared, True)]
    flipped = proxy.apply(table("new")).json()["version"]
    assert owner_rows(control_dsn) == [("market", "market", flipped, True)]
    [row] = proxy.admin("GET", "/owners").json()["owners"]
    assert (row["owner"], row["route_version"]) == ("market", flipped)

    split = table("new")
    split[2]["mode"] = "legacy"
    refused = proxy.admin("PUT", "/routes", json={"table": {"routes": split}, "reason": "half"})
    assert refused.status_code == 422 and any("'POST /api/sales/' is legacy" in p for p in refused.json()["problems"])
    assert owner_rows(control_dsn) == [("market", "market", flipped, True)]

    back = proxy.admin("POST", "/routes/rollback", json={"to": declared, "reason": "give the writes back"})
    assert back.status_code == 200
    assert owner_rows(control_dsn) == [("market", "legacy", back.json()["version"], True)]


def test_the_first_flip_of_the_writes_waits_for_a_legacy_write_in_flight(
    start_proxy: StartProxy, control_dsn: str, pricing: Upstream
) -> None:
    """The monolith's guard reads the owner row FOR SHARE until its write
    commits. Before the first flip there is no row to lock, so the flip
    locks the table: it waits for the write, and the write is not refused."""
    proxy = start_proxy(STRANGLER_SERVICES=json.dumps({"pricing": pricing.url, "market": pricing.url}))
    answers: list[httpx.Response] = []
    with psycopg.connect(control_dsn) as legacy_write:
        assert (
            legacy_write.execute(
                "SELECT owner FROM strangler_write_owners WHERE context = 'market' FOR SHARE"
            ).fetchall()
            == []
        )
        flip = threading.Thread(target=lambda: answers.append(proxy.apply(table("new"))))
        flip.start()
        with psycopg.connect(control_dsn, autocommit=True) as observer:
            wait_until(
                lambda: observer.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0] >= 1,  # type: ignore[index]
                timeout=15,
                what="the flip waiting for the legacy write",
            )
        assert flip.is_alive() and owner_rows(control_dsn) == []
        legacy_write.commit()
    flip.join(15)
    assert answers and answers[0].status_code == 200, answers
    assert [row[:2] for row in owner_rows(control_dsn)] == [("market", "market")]
