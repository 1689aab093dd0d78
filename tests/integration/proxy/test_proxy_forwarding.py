"""Forwarding done right, through a real proxy process to real upstreams."""

from __future__ import annotations

import json
import socket

import httpx
from proxy_support import ProxyProc, StartProxy, Upstream


def raw(proxy: ProxyProc, data: bytes, timeout: float = 5.0) -> bytes:
    """Send bytes as-is and read until the proxy closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
                if b"\r\n\r\n" in out and b"connection: close" in out.lower():
                    continue
        except TimeoutError:
            pass
        return out


def test_headers_forwarded_from_the_real_peer_and_hop_by_hop_dropped(proxy: ProxyProc) -> None:
    r = httpx.get(
        proxy.url + "/echo/?q=1",
        headers={
            "X-Forwarded-For": "6.6.6.6",
            "Forwarded": "for=6.6.6.6",
            "Connection": "X-Hop",
            "X-Hop": "secret",
            "X-Request-ID": "req-abc",
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        },
    )
    assert r.status_code == 200
    seen = r.json()["headers"]
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["forwarded"].startswith("for=127.0.0.1;proto=http")
    assert seen["x-forwarded-proto"] == "http" and seen["x-forwarded-host"].startswith("127.0.0.1:")
    assert "x-hop" not in seen
    assert seen["x-request-id"] == "req-abc" and r.headers["x-request-id"] == "req-abc"
    assert seen["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert not seen["traceparent"].endswith("00f067aa0ba902b7-01")
    assert r.headers["x-strangler-upstream"] == "legacy"
    assert r.json()["path"] == "/echo/?q=1"


def test_request_id_and_traceparent_created_when_missing(proxy: ProxyProc) -> None:
    seen = httpx.get(proxy.url + "/echo/").json()["headers"]
    assert len(seen["x-request-id"]) == 32
    assert len(seen["traceparent"].split("-")) == 4


def test_large_bodies_stream_both_ways(proxy: ProxyProc) -> None:
    n = 8 * 1024 * 1024
    with httpx.stream("GET", proxy.url + f"/big?n={n}", timeout=30) as r:
        assert r.status_code == 200 and r.headers["transfer-encoding"] == "chunked"
        assert sum(len(c) for c in r.iter_bytes()) == n

    def gen():
        for _ in range(32):
            yield b"y" * 65536

    r = httpx.post(proxy.url + "/upload/", content=gen(), timeout=30)  # chunked upload
    assert r.status_code == 200 and len(r.json()["body"]) == 32 * 65536
    r = httpx.put(proxy.url + "/upload/", content=b"z" * 300_000, timeout=30)  # content-length upload
    assert len(r.json()["body"]) == 300_000 and r.json()["headers"]["content-length"] == "300000"


def test_head_and_keepalive_reuse(proxy: ProxyProc) -> None:
    with httpx.Client() as c:
        h = c.head(proxy.url + "/echo/")
        assert h.status_code == 200 and h.content == b"" and int(h.headers["content-length"]) > 0
        for i in range(20):
            assert c.get(proxy.url + f"/echo/{i}/").json()["path"] == f"/echo/{i}/"


def test_refused_requests_never_reach_an_upstream(proxy: ProxyProc, legacy: Upstream, pricing: Upstream) -> None:
    proxy.set_route("GET /api/{rest:path}", "new", service="pricing")
    before = (legacy.count(), pricing.count())
    cases = {
        "CL+TE": b"POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "two lengths": b"POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "big headers": b"GET /api/x HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
        "many headers": b"GET /api/x HTTP/1.1\r\nHost: a\r\n"
        + b"".join(b"X-%d: 1\r\n" % i for i in range(150))
        + b"\r\n",
        "big body": b"POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 20000000\r\n\r\n",
        "absolute other host": b"GET http://evil.example/api/x HTTP/1.1\r\nHost: a\r\n\r\n",
        "dot segments": b"GET /api/../admin/ HTTP/1.1\r\nHost: a\r\n\r\n",
        "encoded slash": b"GET /api/x%2F..%2Fadmin HTTP/1.1\r\nHost: a\r\n\r\n",
        "encoded dots": b"GET /api/%2e%2e/admin HTTP/1.1\r\nHost: a\r\n\r\n",
        "double slash": b"GET //api/x HTTP/1.1\r\nHost: a\r\n\r\n",
        "no host": b"GET /api/x HTTP/1.1\r\n\r\n",
        "two hosts": b"GET /api/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "bad te": b"POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
        "gzip te": b"POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "garbage": b"GET /api/x HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
    }
    expected = {"big headers": 431, "many headers": 431, "big body": 413, "gzip te": 501}
    for name, data in cases.items():
        answer = raw(proxy, data)
        status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
        assert status == expected.get(name, 400), (name, answer[:200])
    assert (legacy.count(), pricing.count()) == (before[0], before[1]), "a refused request reached an upstream"


def test_chunked_body_over_the_limit_is_cut_off_with_413(proxy: ProxyProc) -> None:
    """A chunked body has no length up front: it streams until the limit,
    then the upstream exchange is aborted (never completed) and the client
    gets 413."""
    data = (
        b"POST /echo/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        + (b"100000\r\n" + b"x" * 0x100000 + b"\r\n") * 11
        + b"0\r\n\r\n"
    )
    try:
        answer = raw(proxy, data)
    except ConnectionResetError:
        answer = b""
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:100]


def test_upstream_header_can_be_switched_off(start_proxy: StartProxy) -> None:
    quiet = start_proxy(STRANGLER_UPSTREAM_HEADER="0")
    r = httpx.get(quiet.url + "/echo/")
    assert r.status_code == 200 and "x-strangler-upstream" not in r.headers


def test_dead_legacy_gives_502_and_timeouts_504(proxy: ProxyProc, legacy: Upstream) -> None:
    proxy.apply([{"methods": ["GET"], "path": "/slow/", "mode": "legacy", "timeout": 0.3}])
    r = httpx.get(proxy.url + "/slow/?sleep=2", timeout=5)
    assert r.status_code == 504
    legacy.kill()
    r = httpx.get(proxy.url + "/echo/", timeout=5)
    assert r.status_code == 502 and r.headers["content-type"] == "application/json"


def test_retired_route_answers_410_with_pointer(proxy: ProxyProc, legacy: Upstream) -> None:
    proxy.apply([{"methods": ["GET"], "path": "/old/{rest:path}", "mode": "retired", "pointer": "/new/"}])
    before = legacy.count()
    r = httpx.get(proxy.url + "/old/report/1")
    assert r.status_code == 410 and r.json()["see"] == "/new/"
    assert legacy.count() == before


def test_metrics_exposed(proxy: ProxyProc) -> None:
    httpx.get(proxy.url + "/echo/")
    text = httpx.get(proxy.admin_url + "/_strangler/metrics").text
    assert 'strangler_requests_total{route="default",upstream="legacy",code="2xx"}' in text
    assert "strangler_request_duration_seconds_bucket" in text
    assert json.loads(httpx.get(proxy.admin_url + "/_strangler/health").text)["status"] == "ok"


def test_pipelined_requests_are_answered_in_order(proxy: ProxyProc) -> None:
    data = b"".join(b"GET /echo/%d/ HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(5))
    data += b"GET /echo/last/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    answer = raw(proxy, data)
    paths = [
        json.loads(part.split(b"\r\n\r\n", 1)[1].split(b"HTTP/1.1 ")[0])["path"]
        for part in answer.split(b"HTTP/1.1 200 OK\r\n")[1:]
    ]
    assert paths == [f"/echo/{i}/" for i in range(5)] + ["/echo/last/"]


def test_http10_client_gets_a_closed_connection(proxy: ProxyProc) -> None:
    answer = raw(proxy, b"GET /echo/ HTTP/1.0\r\nHost: a\r\n\r\n")
    head = answer.split(b"\r\n\r\n")[0].lower()
    assert answer.startswith(b"HTTP/1.1 200") and b"connection: close" in head
