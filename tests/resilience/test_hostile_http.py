"""Hostile HTTP at the proxy's front door, tried as an attacker would.

A real proxy on loopback in front of a recording upstream; every case is
written as raw bytes on its own connection. A refused request must get its
4xx, the connection must close, and the upstream must never see it: after
each case a harmless "barrier" request goes through, and once the upstream
has it, everything it saw since the case began must be the barrier alone.
Neutralised cases (absolute-form, h2c upgrade, spoofed forwarding headers,
hop-by-hop abuse) are served, and the test reads what the upstream got.

Slowloris cases use the proxy's short deadlines (``SHORT_TIMEOUT_S``) and
wait on conditions with deadlines; sleeps only pace the trickle.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from frontdoor_support import (
    MAX_BODY,
    SHORT_TIMEOUT_S,
    TOKEN,
    FrontDoor,
    RecordingUpstream,
    Reply,
    Seen,
    connect,
    exchange,
    read_reply,
    request,
    start_front_door,
    wait_closed,
    wait_for,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# -- helpers -----------------------------------------------------------------------------


def through_barrier(door: FrontDoor, upstream: RecordingUpstream, mark: int) -> list[Seen]:
    """What the upstream saw since ``mark``, apart from a barrier request
    sent now (waited for, so anything forwarded earlier has arrived)."""
    tag = f"/barrier/{uuid.uuid4().hex}"
    reply = exchange(door.port, request("GET", tag, {"Connection": "close"}))
    assert reply.status == 200, reply
    wait_for(
        lambda: any(tag.encode() in s.requestline for s in upstream.recorder.since(mark)),
        timeout=5,
        what="the barrier request upstream",
    )
    return [s for s in upstream.recorder.since(mark) if tag.encode() not in s.requestline]


def refused(door: FrontDoor, upstream: RecordingUpstream, raw: bytes, *, deadline_s: float = 5.0) -> Reply:
    """Send ``raw``; assert the proxy itself answered, closed, and that the
    upstream never saw it."""
    mark = upstream.recorder.count()
    reply = exchange(door.port, raw, deadline_s=deadline_s)
    assert reply.status is not None, "no answer at all"
    assert not reply.from_upstream, f"forwarded: {reply}"
    assert reply.closed, f"connection left open after a refusal: {reply}"
    assert through_barrier(door, upstream, mark) == []
    return reply


def served(door: FrontDoor, upstream: RecordingUpstream, raw: bytes) -> tuple[Reply, Seen]:
    """Send ``raw``; assert it was served by the upstream; return what it saw."""
    mark = upstream.recorder.count()
    reply = exchange(door.port, raw)
    assert reply.status == 200 and reply.from_upstream, reply
    seen = upstream.recorder.since(mark)
    assert len(seen) == 1, seen
    return reply, seen[0]


# -- smuggling and framing ------------------------------------------------------------------

CHUNKED_HELLO = b"5\r\nhello\r\n0\r\n\r\n"

REFUSALS: list[tuple[str, bytes, int]] = [
    (
        "http10-with-transfer-encoding",
        b"POST /x HTTP/1.0\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKED_HELLO,
        400,
    ),
    (
        "content-length-and-transfer-encoding",
        request("POST", "/x", {"Content-Length": "5", "Transfer-Encoding": "chunked"}, CHUNKED_HELLO),
        400,
    ),
    (
        "duplicate-conflicting-content-length",
        b"POST /x HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400,
    ),
    ("listed-conflicting-content-length", request("POST", "/x", {"Content-Length": "5, 6"}, b"hello!"), 400),
    ("signed-content-length", request("POST", "/x", {"Content-Length": "+5"}, b"hello"), 400),
    ("hex-content-length", request("POST", "/x", {"Content-Length": "0x5"}, b"hello"), 400),
    ("te-chunked-then-identity", request("POST", "/x", {"Transfer-Encoding": "chunked, identity"}, CHUNKED_HELLO), 400),
    ("te-xchunked", request("POST", "/x", {"Transfer-Encoding": "xchunked"}, CHUNKED_HELLO), 400),
    ("te-identity", request("POST", "/x", {"Transfer-Encoding": "identity"}, b"hello"), 400),
    (
        "te-split-over-two-fields",
        b"POST /x HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n"
        + CHUNKED_HELLO,
        400,
    ),
    (
        "te-space-before-colon",
        b"POST /x HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding : chunked\r\n\r\n" + CHUNKED_HELLO,
        400,
    ),
    ("te-vertical-tab", request("POST", "/x", {"Transfer-Encoding": "\x0bchunked"}, CHUNKED_HELLO), 400),
    ("chunk-size-not-hex", request("POST", "/x", {"Transfer-Encoding": "chunked"}, b"zz\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk-size-negative", request("POST", "/x", {"Transfer-Encoding": "chunked"}, b"-5\r\nhello\r\n0\r\n\r\n"), 400),
    (
        "chunk-size-overflow",
        request("POST", "/x", {"Transfer-Encoding": "chunked"}, b"fffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
        400,
    ),
    (
        "chunk-over-body-limit",
        request("POST", "/x", {"Transfer-Encoding": "chunked"}, b"100000\r\n" + b"a" * 2048),
        413,
    ),
    ("content-length-over-body-limit", request("POST", "/x", {"Content-Length": str(MAX_BODY + 1)}), 413),
    ("oversized-head", request("GET", "/x", {"X-Big": "a" * 5000}), 431),
    ("too-many-headers", request("GET", "/x", {f"X-H{i}": "v" for i in range(150)}), 431),
    ("bare-cr-in-header-value", b"GET /x HTTP/1.1\r\nHost: shop.test\r\nX-A: a\rInjected: 1\r\n\r\n", 400),
    ("nul-in-header-value", b"GET /x HTTP/1.1\r\nHost: shop.test\r\nX-A: a\x00b\r\n\r\n", 400),
    ("obs-fold-continuation", b"GET /x HTTP/1.1\r\nHost: shop.test\r\nX-A: a\r\n b\r\n\r\n", 400),
    ("missing-host", b"GET /x HTTP/1.1\r\n\r\n", 400),
    ("repeated-host", b"GET /x HTTP/1.1\r\nHost: shop.test\r\nHost: evil.test\r\n\r\n", 400),
    ("absolute-form-other-host", request("GET", "http://evil.test/x"), 400),
    ("asterisk-form", request("OPTIONS", "*"), 400),
    ("connect", request("CONNECT", "evil.test:443", {"Host": "evil.test:443"}), 405),
    ("unknown-expect", request("GET", "/x", {"Expect": "200-ok"}), 417),
    ("http2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    ("garbage-request-line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
]

PATH_TRICKS = ["/a/../b", "/a/%2e%2e/b", "/a/%2E%2E/b", "/a/./b", "//evil.test/x", "/a//b", "/a%2fb", "/a%2Fb", "/a\\b"]
PATH_TRICKS += ["/a/%00", "/a/%5c", "/%61dmin", "/a/..%2f"]


@pytest.mark.parametrize(("raw", "status"), [pytest.param(r, s, id=i) for i, r, s in REFUSALS])
def test_hostile_request_is_refused_and_never_forwarded(
    front_door: FrontDoor, recording_upstream: RecordingUpstream, raw: bytes, status: int
) -> None:
    assert refused(front_door, recording_upstream, raw).status == status


@pytest.mark.parametrize("path", PATH_TRICKS)
def test_path_trick_is_refused_and_never_forwarded(
    front_door: FrontDoor, recording_upstream: RecordingUpstream, path: str
) -> None:
    assert refused(front_door, recording_upstream, request("GET", path)).status == 400


def test_a_pipelined_smuggling_attempt_forwards_nothing_after_the_bad_framing(
    front_door: FrontDoor, recording_upstream: RecordingUpstream
) -> None:
    """A good request, then CL+TE meant to hide a third one: nothing after
    the bad framing reaches the upstream; the rest of the stream is refused,
    not guessed. (When all of it arrives in one read, the parser meets the
    bad framing before the first request is served, and the proxy drops the
    whole untrusted stream: then even the first one is refused.)"""
    hidden = request("GET", "/hidden/admin")
    smuggle = request("POST", "/x", {"Content-Length": str(len(b"0\r\n\r\n")), "Transfer-Encoding": "chunked"})
    raw = request("GET", "/first") + smuggle + b"0\r\n\r\n" + hidden
    mark = recording_upstream.recorder.count()
    with connect(front_door.port) as sock:
        sock.sendall(raw)
        first = read_reply(sock)
        second = read_reply(sock) if first.status == 200 else first
    assert second.status == 400 and second.closed
    seen = through_barrier(front_door, recording_upstream, mark)
    expected = [b"/first"] if first.status == 200 else []
    assert [s.requestline.split()[1] for s in seen] == expected


# -- neutralised ------------------------------------------------------------------------------


def test_spoofed_forwarding_headers_are_replaced_by_the_real_peer(
    front_door: FrontDoor, recording_upstream: RecordingUpstream
) -> None:
    spoof = {
        "X-Forwarded-For": "10.0.0.1",
        "Forwarded": "for=10.0.0.1;proto=https",
        "X-Real-IP": "10.0.0.1",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "admin.internal",
        "X_Forwarded_For": "10.0.0.2",
        "X-Strangler-Identity": "forged",
    }
    _, seen = served(front_door, recording_upstream, request("GET", "/who", spoof))
    assert seen.header("x-forwarded-for") == ["127.0.0.1"]
    assert seen.header("forwarded") == ['for=127.0.0.1;proto=http;host="shop.test"']
    assert seen.header("x-forwarded-proto") == ["http"]
    assert seen.header("x-forwarded-host") == ["shop.test"]
    for gone in ("x-real-ip", "x_forwarded_for", "x-strangler-identity"):
        assert seen.header(gone) == [], gone


def test_connection_cannot_strip_host_or_the_proxys_own_headers(
    front_door: FrontDoor, recording_upstream: RecordingUpstream
) -> None:
    headers = {"Connection": "keep-alive, Host, X-Forwarded-For, Forwarded, X-Private", "X-Private": "1"}
    _, seen = served(front_door, recording_upstream, request("GET", "/hop", headers))
    assert seen.header("host") == ["shop.test"]
    assert seen.header("x-forwarded-for") == ["127.0.0.1"]
    assert seen.header("x-private") == []  # named in Connection: hop-by-hop, dropped (RFC 9110 7.6.1)
    assert seen.header("connection") == [] or "host" not in seen.header("connection")[0].lower()


def test_h2c_upgrade_is_served_as_plain_http11_then_closed(
    front_door: FrontDoor, recording_upstream: RecordingUpstream
) -> None:
    headers = {"Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c", "HTTP2-Settings": "AAMAAABkAAQAAP__"}
    reply, seen = served(front_door, recording_upstream, request("GET", "/h2c", headers))
    assert reply.closed
    for gone in ("upgrade", "http2-settings"):
        assert seen.header(gone) == [], gone


def test_absolute_form_for_the_same_host_is_forwarded_in_origin_form(
    front_door: FrontDoor, recording_upstream: RecordingUpstream
) -> None:
    _, seen = served(front_door, recording_upstream, request("GET", "http://shop.test/abs?q=1"))
    assert seen.requestline.split()[1] == b"/abs?q=1"


# -- slowloris -------------------------------------------------------------------------------------


def trickle(door: FrontDoor, head: bytes, pieces: list[bytes], *, pace_s: float = 0.1) -> tuple[Reply, float]:
    """Send ``head`` then one piece per ``pace_s`` until the proxy answers;
    return the answer and the seconds it took. Bounded by the pieces."""
    started = time.monotonic()
    with connect(door.port) as sock:
        sock.sendall(head)
        for piece in pieces:
            reply = read_reply(sock, deadline_s=pace_s)
            if reply.status is not None and not reply.closed:  # answered: the close may take longer than a pace
                reply = Reply(reply.status, reply.headers, reply.body, wait_closed(sock, 5))
            if reply.status is not None or reply.closed:
                return reply, time.monotonic() - started
            try:
                sock.sendall(piece)
            except ConnectionError:
                break
        return read_reply(sock, deadline_s=5), time.monotonic() - started


def test_a_head_trickled_past_its_deadline_gets_408_and_is_closed(
    front_door: FrontDoor, recording_upstream: RecordingUpstream
) -> None:
    mark = recording_upstream.recorder.count()
    reply, took = trickle(front_door, b"GET /slow HTTP/1.1\r\nHost: shop.test\r\n", [b"X-A: b\r\n"] * 60)
    assert reply.status == 408 and reply.closed, reply
    assert took < SHORT_TIMEOUT_S * 6, "the deadline is for the whole head, not per line"
    assert through_barrier(front_door, recording_upstream, mark) == []


def test_a_silent_connection_is_answered_408_and_closed(front_door: FrontDoor) -> None:
    with connect(front_door.port) as sock:
        reply = read_reply(sock, deadline_s=SHORT_TIMEOUT_S * 10)
    assert reply.status == 408 and reply.closed


def test_a_body_trickled_past_its_deadline_gets_408_and_never_reaches_upstream(
    front_door: FrontDoor, recording_upstream: RecordingUpstream
) -> None:
    mark = recording_upstream.recorder.count()
    head = request("POST", "/slow-body", {"Content-Length": "60"})
    reply, _took = trickle(front_door, head, [b"a"] * 60)
    assert reply.status == 408 and reply.closed, reply
    assert through_barrier(front_door, recording_upstream, mark) == []


def test_an_idle_keep_alive_connection_is_closed(front_door: FrontDoor) -> None:
    with connect(front_door.port) as sock:
        sock.sendall(request("GET", "/keep"))
        first = read_reply(sock)
        assert first.status == 200 and not first.closed
        assert wait_closed(sock, SHORT_TIMEOUT_S * 10), "idle keep-alive connection never closed"


@pytest.fixture
def capped_door(recording_upstream: RecordingUpstream, control_dsn_module: str, tmp_path: Path) -> Iterator[FrontDoor]:
    """A proxy that holds at most 3 client connections (and waits long for heads)."""
    door = start_front_door(
        recording_upstream.url,
        control_dsn_module,
        tmp_path / "capped.log",
        STRANGLER_MAX_CONNECTIONS="3",
        STRANGLER_HEADER_TIMEOUT_S="30",
    )
    yield door
    door.process.stop()


def open_connections(door: FrontDoor) -> int:
    import httpx

    status: Any = httpx.get(
        door.admin_url + "/_strangler/status", headers={"authorization": f"Bearer {TOKEN}"}, timeout=2
    ).json()
    return int(status["connections"])


def test_connections_past_the_cap_get_503_and_the_proxy_keeps_serving(capped_door: FrontDoor) -> None:
    held = [connect(capped_door.port) for _ in range(3)]
    try:
        wait_for(lambda: open_connections(capped_door) == 3, timeout=5, what="three held connections")
        with connect(capped_door.port) as extra:
            reply = read_reply(extra)
        assert reply.status == 503 and reply.closed and reply.headers.get("retry-after") == "1"
        held.pop().close()
        wait_for(lambda: open_connections(capped_door) == 2, timeout=5, what="a freed slot")
        assert exchange(capped_door.port, request("GET", "/after-cap")).status == 200
    finally:
        for sock in held:
            sock.close()


# -- the fuzzer -------------------------------------------------------------------------------------

METHODS = st.sampled_from(["GET", "POST", "PUT", "HEAD", "OPTIONS", "DELETE", "CONNECT", "TRACE", "G\x00T", "get", ""])
TARGETS = st.one_of(
    st.sampled_from([*PATH_TRICKS, "/", "/ok", "*", "http://shop.test/x", "http://evil.test/", "/x?a=%2e%2e", ""]),
    st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=30).map(lambda s: "/" + s),
)
VERSIONS = st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/0.9", "HTTP/2.0", "HTTP/1.1x", "http/1.1", ""])
HEADER_NAMES = st.sampled_from(
    [
        "Host",
        "Content-Length",
        "Transfer-Encoding",
        "Connection",
        "Upgrade",
        "Expect",
        "X-Forwarded-For",
        "Forwarded",
        "Authorization",
        "X-Strangler-Identity",
        "X_Forwarded_For",
        "Transfer-Encoding ",
        "",
    ]
) | st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=12)
HEADER_VALUES = st.sampled_from(
    ["shop.test", "0", "5", "-1", "5, 6", "chunked", "chunked, identity", "gzip, chunked", "close, Host", "h2c"]
) | st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=20)
BODIES = st.sampled_from([b"", b"hello", CHUNKED_HELLO, b"0\r\n\r\n", b"zz\r\n", b"GET /smuggled HTTP/1.1\r\n\r\n"])


@st.composite
def request_heads(draw: st.DrawFn) -> bytes:
    line = f"{draw(METHODS)} {draw(TARGETS)} {draw(VERSIONS)}"
    headers = draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=6))
    if draw(st.booleans()):
        headers.insert(0, ("Host", "shop.test"))
    text = "\r\n".join([line, *(f"{n}: {v}" for n, v in headers)]) + "\r\n\r\n"
    return text.encode("latin-1") + draw(BODIES)


def allowed_5xx(raw: bytes, status: int) -> bool:
    """The one 5xx a hostile head may earn: 501 for a transfer coding the
    proxy does not implement (RFC 9112 section 6.1 asks for it)."""
    return status == 501 and b"transfer-encoding" in raw.lower()


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=request_heads())
def test_fuzzed_request_heads_never_crash_hang_or_leak_a_refusal(
    front_door: FrontDoor, recording_upstream: RecordingUpstream, raw: bytes
) -> None:
    """Never a 5xx, the connection always answered or closed in time, and a
    request the proxy refused itself never reached the upstream."""
    mark = recording_upstream.recorder.count()
    reply = exchange(front_door.port, raw, deadline_s=SHORT_TIMEOUT_S * 8)
    assert reply.status is not None or reply.closed, f"neither answered nor closed: {raw!r}"
    if reply.status is not None:
        assert reply.status < 500 or allowed_5xx(raw, reply.status), (raw, reply)
        if not reply.from_upstream:
            assert recording_upstream.recorder.since(mark) == [], f"refused {reply.status} yet forwarded: {raw!r}"


def test_the_proxy_survived_everything(front_door: FrontDoor) -> None:
    """Runs last in this module: no handler crashed on anything above."""
    assert front_door.healthy()
    assert "handler crashed" not in front_door.log()
    assert front_door.process.alive()
