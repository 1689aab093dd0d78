"""Request validation and header rewriting: pure functions on raw bytes.

Everything a request smuggler or a confused upstream could exploit is
refused here, before any upstream is contacted:

* both ``Content-Length`` and ``Transfer-Encoding``; conflicting or malformed
  lengths; a transfer coding other than plain ``chunked`` (400 when
  ``chunked`` is not the final coding, RFC 9112 section 6.3; 501 for a
  coding before it); any ``Transfer-Encoding`` in an HTTP/1.0 request (RFC
  9112 section 6.1: such framing is faulty, so 400 and close);
* missing or repeated ``Host``; absolute-form targets naming another host;
* bodies over the limit (oversized headers are refused while parsing);
* paths that would normalise differently from how they are routed
  (``.``/``..`` segments, ``//``, encoded ``/``, ``\\``, ``.``, NUL or
  percent-encoded unreserved characters), since the upstream would then
  serve a different route than the one the table chose.

Outgoing headers drop hop-by-hop fields (including those named in
``Connection``, except ``Host``, which a client could otherwise strip to
reach an upstream's default virtual host) and every client-supplied
``X-Forwarded-*``/``Forwarded``, which are rebuilt from the real peer, and
any ``X-Strangler-Identity``: the proxy alone signs that one
(``identity.py``), for new services only. Names spelled with ``_`` instead
of ``-`` (``X_Forwarded_For``) are dropped with them, because WSGI servers
fold both spellings into the same variable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from random import getrandbits

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authorization",
        b"proxy-authenticate",
    }
)
_REWRITTEN = frozenset(
    {
        b"content-length",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"forwarded",
        b"x-real-ip",
        b"x-request-id",
        b"traceparent",
        b"expect",
        b"x-strangler-identity",  # only the proxy signs it: a client's copy is always dropped
    }
)
#: Never removed because a client's ``Connection`` names it: the upstream needs it.
_KEPT_END_TO_END = frozenset({b"host"})
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
_TRACEPARENT = re.compile(rb"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_BAD_PATH = re.compile(
    rb"//|\\|%2[fFeE]|%5[cC]|%00|%[46][1-9a-fA-F]|%[57][0-9aA]|%3[0-9]|%2[dD]|%5[fF]|%7[eE]|[\x00-\x20\x7f-\xff#]"
)


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str


@dataclass(slots=True)
class Checked:
    """A request that passed validation, with what routing needs."""

    path: str
    target: bytes
    host: bytes
    content_length: int | None
    chunked: bool
    authorization: bytes | None
    cookie: bytes | None
    request_id: bytes | None
    traceparent: bytes | None
    expect_continue: bool
    connection_tokens: frozenset[bytes]


def _path_ok(path: bytes) -> bool:
    if not path.startswith(b"/") or _BAD_PATH.search(path):
        return False
    for seg in path.split(b"/"):  # noqa: SIM110 -- per request: a plain loop, no generator
        if seg in (b".", b".."):
            return False
    return True


def check_request(
    method: str, target: bytes, headers: list[tuple[bytes, bytes]], *, max_body: int, http11: bool = True
) -> Checked | Refusal:
    """Validate one request head; a ``Refusal`` is answered and the
    connection closed without contacting any upstream."""
    host: bytes | None = None
    lengths: set[bytes] = set()
    te: list[bytes] = []
    te_seen = False
    authorization = cookie = request_id = traceparent = None
    expect = False
    conn_tokens: set[bytes] = set()
    for name, value in headers:
        lname = name.lower()
        if lname == b"host":
            if host is not None:
                return Refusal(400, "repeated Host header")
            host = value.strip()
        elif lname == b"content-length":
            lengths.update(v.strip() for v in value.split(b","))
        elif lname == b"transfer-encoding":
            te_seen = True
            te.extend(v.strip().lower() for v in value.split(b",") if v.strip())
        elif lname == b"authorization":
            authorization = value
        elif lname == b"cookie":
            cookie = value if cookie is None else cookie + b"; " + value
        elif lname == b"x-request-id":
            request_id = value.strip()
        elif lname == b"traceparent":
            traceparent = value.strip()
        elif lname == b"expect":
            if value.strip().lower() != b"100-continue":
                return Refusal(417, "unsupported Expect")
            expect = True
        elif lname == b"connection":
            conn_tokens.update(t.strip().lower() for t in value.split(b",") if t.strip())
    if method == "CONNECT":
        return Refusal(405, "CONNECT is not supported")
    if not host:
        return Refusal(400, "missing Host header")
    if te_seen:  # even an empty value: it is still a framing header to refuse
        if not http11:
            return Refusal(400, "Transfer-Encoding in an HTTP/1.0 request")
        if lengths:
            return Refusal(400, "both Content-Length and Transfer-Encoding")
        if not te or te[-1] != b"chunked":
            return Refusal(400, "Transfer-Encoding must end in chunked")
        if te != [b"chunked"]:
            return Refusal(501, "only 'Transfer-Encoding: chunked' is supported")
    content_length: int | None = None
    if lengths:
        if len(lengths) != 1:
            return Refusal(400, "conflicting Content-Length values")
        raw = next(iter(lengths))
        if not raw.isdigit() or len(raw) > 15:
            return Refusal(400, "malformed Content-Length")
        content_length = int(raw)
        if content_length > max_body:
            return Refusal(413, "request body too large")
    if target.startswith((b"http://", b"https://")):
        rest = target.split(b"://", 1)[1]
        authority, _slash, path_q = rest.partition(b"/")
        if authority.lower() != host.lower():
            return Refusal(400, "absolute-form target names another host")
        target = b"/" + path_q
    elif not target.startswith(b"/"):
        return Refusal(400, "request target must be origin-form")
    raw_path = target.split(b"?", 1)[0]
    if not _path_ok(raw_path):
        return Refusal(400, "path does not normalise to itself")
    return Checked(
        path=raw_path.decode("ascii"),
        target=target,
        host=host,
        content_length=content_length,
        chunked=bool(te),
        authorization=authorization,
        cookie=cookie,
        request_id=request_id if request_id and _REQUEST_ID.match(request_id) else None,
        traceparent=traceparent,
        expect_continue=expect,
        connection_tokens=frozenset(conn_tokens),
    )


def _dropped(lname: bytes, connection_tokens: frozenset[bytes]) -> bool:
    """Is this client header left out of the upstream request?"""
    if lname in HOP_BY_HOP or lname in _REWRITTEN:
        return True
    if lname in connection_tokens and lname not in _KEPT_END_TO_END:
        return True
    if b"_" in lname:  # X_Forwarded_For reaches a WSGI app as HTTP_X_FORWARDED_FOR
        dashed = lname.replace(b"_", b"-")
        return dashed in HOP_BY_HOP or dashed in _REWRITTEN or dashed == b"host"
    return False


def _hex(bits: int) -> bytes:
    # Not a secret: ids only need to be unique, and getrandbits is ~10x
    # cheaper than os.urandom on the hot path.
    return b"%0*x" % (bits // 4, getrandbits(bits))


def new_request_id() -> bytes:
    return _hex(128)


def child_traceparent(incoming: bytes | None) -> bytes:
    """Keep a valid caller trace id with a new span id for our hop; else
    start a new trace."""
    if incoming:
        m = _TRACEPARENT.match(incoming)
        if m and m.group(1) != b"0" * 32 and m.group(2) != b"0" * 16:
            return b"00-" + m.group(1) + b"-" + _hex(64) + b"-" + m.group(3)
    return b"00-" + _hex(128) + b"-" + _hex(64) + b"-01"


def forward_headers(
    headers: list[tuple[bytes, bytes]],
    checked: Checked,
    *,
    peer_ip: str,
    request_id: bytes,
    traceparent: bytes,
    scheme: bytes = b"http",
) -> list[bytes]:
    """Header lines (``b"name: value"``) to send upstream, without framing
    headers (the caller adds Content-Length or chunked)."""
    drop = checked.connection_tokens
    out = [name + b": " + value for name, value in headers if not _dropped(name.lower(), drop)]
    peer = peer_ip.encode()
    fwd_for = b'"[' + peer + b']"' if b":" in peer else peer
    out.append(b"x-forwarded-for: " + peer)
    out.append(b"x-forwarded-proto: " + scheme)
    out.append(b"x-forwarded-host: " + checked.host)
    out.append(b"forwarded: for=" + fwd_for + b";proto=" + scheme + b';host="' + checked.host + b'"')
    out.append(b"x-request-id: " + request_id)
    out.append(b"traceparent: " + traceparent)
    return out


def response_headers(headers: list[tuple[bytes, bytes]]) -> tuple[list[bytes], int | None, bool]:
    """(header lines to pass to the client, content-length, upstream chunked).

    Hop-by-hop headers and those named in the upstream's ``Connection`` are
    dropped; ``Content-Encoding`` passes untouched because the bytes do."""
    drop: set[bytes] = set()
    length: int | None = None
    chunked = False
    for name, value in headers:
        ln = name.lower()
        if ln == b"connection":
            drop.update(t.strip().lower() for t in value.split(b","))
        elif ln == b"content-length" and value.strip().isdigit():
            length = int(value)
        elif ln == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    out = [
        name + b": " + value
        for name, value in headers
        if (ln := name.lower()) not in HOP_BY_HOP and ln not in drop and ln != b"content-length"
    ]
    return out, length, chunked
