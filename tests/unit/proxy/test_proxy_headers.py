"""Request validation and header rewriting (pure, on raw bytes)."""

from __future__ import annotations

import pytest

from strangler_proxy.headers import (
    Checked,
    Refusal,
    check_request,
    child_traceparent,
    forward_headers,
    response_headers,
)

H = [(b"Host", b"shop.example")]


def ok(method: str = "GET", target: bytes = b"/api/x/", headers: list | None = None) -> Checked:
    result = check_request(method, target, H + (headers or []), max_body=1000)
    assert isinstance(result, Checked), result
    return result


def refused(
    target: bytes = b"/api/x/", headers: list | None = None, base: list | None = None, method: str = "GET"
) -> Refusal:
    result = check_request(method, target, (H if base is None else base) + (headers or []), max_body=1000)
    assert isinstance(result, Refusal), result
    return result


@pytest.mark.parametrize(
    "headers, status",
    [
        ([(b"Content-Length", b"5"), (b"Transfer-Encoding", b"chunked")], 400),
        ([(b"Content-Length", b"5"), (b"Content-Length", b"6")], 400),
        ([(b"Content-Length", b"5, 6")], 400),
        ([(b"Content-Length", b"-1")], 400),
        ([(b"Content-Length", b"1001")], 413),
        ([(b"Transfer-Encoding", b"gzip, chunked")], 501),
        ([(b"Host", b"other")], 400),
        ([(b"Expect", b"teapot")], 417),
    ],
)
def test_smuggling_and_size_cases_are_refused(headers: list, status: int) -> None:
    assert refused(headers=headers).status == status


def test_missing_host_and_connect_are_refused() -> None:
    assert refused(base=[]).status == 400
    assert refused(method="CONNECT", target=b"/x").status == 405


@pytest.mark.parametrize(
    "target",
    [
        b"/a/../b",
        b"/a/./b",
        b"//evil/x",
        b"/a%2fb",
        b"/a%2F..",
        b"/%2e%2e/x",
        b"/a\\b",
        b"/a%00",
        b"/%61dmin",
        b"*",
        b"/a b",
        b"http://evil.example/x",
    ],
)
def test_targets_that_normalise_differently_are_refused(target: bytes) -> None:
    assert refused(target=target).status == 400


def test_absolute_form_to_the_same_host_is_accepted_as_origin_form() -> None:
    c = ok(target=b"http://shop.example/api/x/?q=1")
    assert c.target == b"/api/x/?q=1" and c.path == "/api/x/"


def test_identical_repeated_lengths_are_collapsed() -> None:
    assert ok(headers=[(b"Content-Length", b"3"), (b"content-length", b"3")]).content_length == 3


def test_forwarded_headers_come_from_the_peer_and_hop_by_hop_are_dropped() -> None:
    incoming = [
        *H,
        (b"Connection", b"keep-alive, X-Secret-Hop"),
        (b"X-Secret-Hop", b"1"),
        (b"Keep-Alive", b"5"),
        (b"X-Forwarded-For", b"6.6.6.6"),
        (b"Forwarded", b"for=6.6.6.6"),
        (b"X-Real-IP", b"6.6.6.6"),
        (b"Upgrade", b"h2c"),
        (b"Accept", b"application/json"),
        (b"TE", b"trailers"),
    ]
    c = check_request("GET", b"/x/", incoming, max_body=10)
    assert isinstance(c, Checked)
    lines = forward_headers(incoming, c, peer_ip="10.1.2.3", request_id=b"rid-1", traceparent=b"tp")
    text = b"\n".join(lines).lower()
    assert b"6.6.6.6" not in text
    for gone in (b"x-secret-hop", b"keep-alive", b"upgrade", b"connection:", b"te:"):
        assert gone not in text, gone
    assert b"x-forwarded-for: 10.1.2.3" in text
    assert b'forwarded: for=10.1.2.3;proto=http;host="shop.example"' in text
    assert b"x-forwarded-host: shop.example" in text
    assert b"accept: application/json" in text and b"x-request-id: rid-1" in text


def test_ipv6_peer_is_quoted_in_forwarded() -> None:
    c = ok()
    lines = forward_headers(H, c, peer_ip="::1", request_id=b"r", traceparent=b"t")
    assert b'forwarded: for="[::1]";proto=http;host="shop.example"' in lines


def test_request_id_kept_when_sane_replaced_when_not() -> None:
    assert ok(headers=[(b"X-Request-ID", b"abc-123")]).request_id == b"abc-123"
    assert ok(headers=[(b"X-Request-ID", b"bad id\x01")]).request_id is None


def test_traceparent_keeps_trace_id_with_new_span_or_starts_a_trace() -> None:
    incoming = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    child = child_traceparent(incoming)
    assert child.startswith(b"00-4bf92f3577b34da6a3ce929d0e0e4736-") and child.endswith(b"-01")
    assert child.split(b"-")[2] != b"00f067aa0ba902b7"
    fresh = child_traceparent(b"00-00000000000000000000000000000000-00f067aa0ba902b7-01")
    parts = fresh.split(b"-")
    assert len(parts[1]) == 32 and parts[1] != b"0" * 32 and len(parts[2]) == 16


def test_response_headers_drop_hop_by_hop_and_report_framing() -> None:
    lines, length, chunked = response_headers(
        [
            (b"Content-Length", b"12"),
            (b"Connection", b"close, X-Internal"),
            (b"X-Internal", b"1"),
            (b"Content-Encoding", b"gzip"),
            (b"Keep-Alive", b"timeout=5"),
        ]
    )
    assert length == 12 and not chunked
    assert lines == [b"Content-Encoding: gzip"]
