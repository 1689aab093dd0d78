"""HTTP/1.1 wire helpers: status lines, small canned answers and body framing.

Pure functions on bytes, shared by the client-facing server and the
forwarder, so the rules that keep a byte stream well delimited (RFC 9112
section 6) live in one place and have their own unit tests. How a body is
delimited is a ``Framing`` member rather than a bare int, so a reader of the
relay loop sees which rule applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

REASONS = {
    200: b"OK",
    201: b"Created",
    204: b"No Content",
    301: b"Moved Permanently",
    302: b"Found",
    304: b"Not Modified",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    409: b"Conflict",
    410: b"Gone",
    413: b"Content Too Large",
    417: b"Expectation Failed",
    422: b"Unprocessable Content",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    501: b"Not Implemented",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
}

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class Framing(Enum):
    """How a message body is delimited on the wire."""

    NONE = "none"  # no body bytes follow (HEAD, 204, 304; or a request without body)
    LENGTH = "length"  # Content-Length: N
    CHUNKED = "chunked"  # Transfer-Encoding: chunked
    UNTIL_CLOSE = "until-close"  # HTTP/1.0 peer and unknown length: the body ends when we close


_STATUS_LINES: dict[int, bytes] = {}


def status_line(status: int, reason: bytes | None = None) -> bytes:
    """``HTTP/1.1 <status> <reason>\\r\\n``; the upstream's reason is kept when given."""
    if reason:
        return b"HTTP/1.1 %d %s\r\n" % (status, reason)
    line = _STATUS_LINES.get(status)
    if line is None:
        line = _STATUS_LINES[status] = b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, b"Unknown"))
    return line


def simple_response(
    status: int,
    body: bytes,
    *,
    close: bool = False,
    content_type: bytes = b"application/json",
    extra: Sequence[bytes] | None = None,
) -> bytes:
    """A complete answer the proxy writes itself (errors, admin API, 410)."""
    lines = [
        status_line(status),
        b"content-type: ",
        content_type,
        b"\r\ncontent-length: ",
        str(len(body)).encode(),
        b"\r\n",
    ]
    for h in extra or ():
        lines.append(h + b"\r\n")
    if close:
        lines.append(b"connection: close\r\n")
    lines.append(b"\r\n")
    lines.append(body)
    return b"".join(lines)


def request_framing(method: str, body: bytes | None, content_length: int | None, chunked: bool) -> Framing:
    """How a request goes upstream. A buffered ``body`` is always re-sent
    with a Content-Length (even 0 for POST/PUT/PATCH, which some servers
    require); a streamed body keeps the client's own framing."""
    if body is not None:
        if body or content_length is not None or method in BODY_METHODS:
            return Framing.LENGTH
        return Framing.NONE
    return Framing.CHUNKED if chunked else Framing.LENGTH


def request_head(method: str, target: bytes, lines: list[bytes], framing: Framing, length: int) -> bytes:
    """The request line and headers to send upstream, framing included."""
    parts = [method.encode(), b" ", target, b" HTTP/1.1\r\n", b"\r\n".join(lines), b"\r\n"]
    if framing is Framing.LENGTH:
        parts.append(b"content-length: %d\r\n" % length)
    elif framing is Framing.CHUNKED:
        parts.append(b"transfer-encoding: chunked\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def response_framing(*, head_request: bool, status: int, length: int | None, http11: bool) -> Framing:
    """How the upstream's answer goes to the client: a known length passes
    through, an unknown one is re-chunked for HTTP/1.1 clients and
    delimited by closing the connection for HTTP/1.0 ones."""
    if head_request or status in (204, 304) or status < 200:
        return Framing.NONE
    if length is not None:
        return Framing.LENGTH
    return Framing.CHUNKED if http11 else Framing.UNTIL_CLOSE


def framing_header(framing: Framing, length: int | None) -> bytes | None:
    """The response header line announcing ``framing`` (None: no line).
    A body-less answer still repeats the upstream's Content-Length (a HEAD
    answer says how long the GET answer would be)."""
    if framing is Framing.CHUNKED:
        return b"transfer-encoding: chunked"
    if length is not None and framing is not Framing.UNTIL_CLOSE:
        return b"content-length: %d" % length
    return None


def encode_body(framing: Framing, chunks: list[bytes], last: bool) -> bytes:
    """Body bytes for the client: as received, chunk-encoded (with the
    terminating chunk once ``last``), or nothing for a body-less answer."""
    if framing is Framing.CHUNKED:
        data = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c)
        return data + LAST_CHUNK if last else data
    if framing is Framing.NONE:
        return b""
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def encode_chunk(data: bytes) -> bytes:
    """One chunk of a chunked request body being streamed upstream."""
    return b"%x\r\n%s\r\n" % (len(data), data)
