"""HTTP/1.1 wire helpers: status lines, canned answers, body framing."""

from __future__ import annotations

import pytest

from strangler_proxy.wire import (
    Framing,
    encode_body,
    encode_chunk,
    framing_header,
    request_framing,
    request_head,
    response_framing,
    simple_response,
    status_line,
)


def test_status_line_uses_known_reason_or_the_upstreams() -> None:
    assert status_line(410) == b"HTTP/1.1 410 Gone\r\n"
    assert status_line(299) == b"HTTP/1.1 299 Unknown\r\n"
    assert status_line(200, b"Fine") == b"HTTP/1.1 200 Fine\r\n"


def test_simple_response_is_complete_and_closes_when_asked() -> None:
    raw = simple_response(503, b'{"e": 1}', close=True, extra=[b"x-request-id: r1"])
    head, body = raw.split(b"\r\n\r\n", 1)
    assert body == b'{"e": 1}'
    assert head.split(b"\r\n") == [
        b"HTTP/1.1 503 Service Unavailable",
        b"content-type: application/json",
        b"content-length: 8",
        b"x-request-id: r1",
        b"connection: close",
    ]


@pytest.mark.parametrize(
    "method, body, length, chunked, expected",
    [
        ("GET", b"", None, False, Framing.NONE),  # buffered, empty, no length given: no framing header
        ("POST", b"", None, False, Framing.LENGTH),  # POST always says how long
        ("GET", b"", 0, False, Framing.LENGTH),  # the client said 0: so do we
        ("PUT", b"abc", 3, False, Framing.LENGTH),
        ("POST", b"abc", None, True, Framing.LENGTH),  # a buffered chunked body is re-framed with a length
        ("POST", None, None, True, Framing.CHUNKED),  # streamed: the client's own framing
        ("PUT", None, 9, False, Framing.LENGTH),
    ],
)
def test_request_framing(method: str, body: bytes | None, length: int | None, chunked: bool, expected: Framing) -> None:
    assert request_framing(method, body, length, chunked) is expected


def test_request_head_carries_framing_header() -> None:
    lines = [b"host: a", b"x-request-id: r"]
    assert request_head("PUT", b"/x?q=1", lines, Framing.LENGTH, 3) == (
        b"PUT /x?q=1 HTTP/1.1\r\nhost: a\r\nx-request-id: r\r\ncontent-length: 3\r\n\r\n"
    )
    assert request_head("POST", b"/x", lines, Framing.CHUNKED, 0).endswith(b"\r\ntransfer-encoding: chunked\r\n\r\n")
    assert (
        request_head("GET", b"/x", lines, Framing.NONE, 0) == b"GET /x HTTP/1.1\r\nhost: a\r\nx-request-id: r\r\n\r\n"
    )


@pytest.mark.parametrize(
    "head_request, status, length, http11, expected",
    [
        (True, 200, 42, True, Framing.NONE),
        (False, 204, None, True, Framing.NONE),
        (False, 304, 10, True, Framing.NONE),
        (False, 200, 42, False, Framing.LENGTH),
        (False, 200, None, True, Framing.CHUNKED),
        (False, 200, None, False, Framing.UNTIL_CLOSE),
    ],
)
def test_response_framing(head_request: bool, status: int, length: int | None, http11: bool, expected: Framing) -> None:
    assert response_framing(head_request=head_request, status=status, length=length, http11=http11) is expected


def test_framing_header_keeps_head_answers_length() -> None:
    assert framing_header(Framing.NONE, 42) == b"content-length: 42"
    assert framing_header(Framing.NONE, None) is None
    assert framing_header(Framing.LENGTH, 7) == b"content-length: 7"
    assert framing_header(Framing.CHUNKED, None) == b"transfer-encoding: chunked"
    assert framing_header(Framing.UNTIL_CLOSE, None) is None


def test_encode_body_per_framing() -> None:
    assert encode_body(Framing.CHUNKED, [b"ab", b"", b"c"], False) == b"2\r\nab\r\n1\r\nc\r\n"
    assert encode_body(Framing.CHUNKED, [], True) == b"0\r\n\r\n"
    assert encode_body(Framing.NONE, [b"ignored"], True) == b""
    assert encode_body(Framing.LENGTH, [b"a", b"b"], False) == b"ab"
    assert encode_body(Framing.UNTIL_CLOSE, [b"x"], True) == b"x"
    assert encode_chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"
