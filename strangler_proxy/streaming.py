"""Moving bytes between a client connection and an upstream exchange.

Both directions stream with back-pressure: a request body that is not
buffered is pumped upstream as it arrives (``send_request``), and the answer
is written to the client chunk by chunk as the upstream delivers it
(``relay_response``), optionally keeping a bounded copy for the shadow
comparison. Framing rules come from ``wire``; nothing here decides routes.
"""

from __future__ import annotations

import asyncio

from strangler_proxy.headers import response_headers
from strangler_proxy.server import ClientConnection, IncomingRequest
from strangler_proxy.upstream_port import Exchange, Upstream, UpstreamError
from strangler_proxy.wire import (
    LAST_CHUNK,
    Framing,
    encode_body,
    encode_chunk,
    framing_header,
    response_framing,
    status_line,
)


async def send_request(
    upstream: Upstream,
    head: bytes,
    body: bytes | None,
    req: IncomingRequest,
    *,
    chunked: bool,
    head_only: bool,
    timeout: float,
) -> Exchange:
    """Send the request and wait for the response head.

    A buffered ``body`` goes out in one write (replayable: the upstream may
    retry on a stale connection). Otherwise the client's body is pumped
    upstream concurrently, because an upstream may answer before reading
    all of it; such a connection is then not reused."""
    if body is not None:
        return await upstream.send(head, body, head_only=head_only, timeout=timeout)
    up = await upstream.open(head, head_only=head_only, timeout=timeout)
    pump = asyncio.get_running_loop().create_task(pump_body(req, up, chunked))
    try:
        await up.wait_head()
    except BaseException:
        pump.cancel()
        up.abort()
        raise
    if not pump.done():
        up.keep_alive = False  # answered before the body was sent: cannot reuse
        pump.add_done_callback(lambda _t: None)
    return up


async def pump_body(req: IncomingRequest, up: Exchange, chunked: bool) -> None:
    """Stream the client's body upstream as it arrives; a body over the
    limit or past its deadline fails the exchange so it is never completed
    upstream."""
    try:
        while True:
            for c in req.take():
                up.write(encode_chunk(c) if chunked else c)
            await up.drain()
            if req.too_large:
                up.fail(UpstreamError("request body over the limit"))
                return
            if req.timed_out:
                up.fail(UpstreamError("request body not received in time"))
                return
            if req.complete:
                if chunked:
                    up.write(LAST_CHUNK)
                return
            await req.wait()
    except (ConnectionError, asyncio.CancelledError):
        up.abort()


async def relay_response(
    up: Exchange,
    req: IncomingRequest,
    conn: ClientConnection,
    extra: list[bytes],
    capture_limit: int | None,
) -> tuple[bool, bytes | None]:
    """Write the upstream's answer to the client, streaming, then release
    the exchange. ``extra`` header lines follow the upstream's own; with a
    ``capture_limit`` a copy of the body up to that size is kept.

    Returns (keep the client connection, captured body or None)."""
    lines, length, _ = response_headers(up.headers)
    status = up.status
    framing = response_framing(head_request=req.method == "HEAD", status=status, length=length, http11=req.http11)
    keep = req.keep_alive and framing is not Framing.UNTIL_CLOSE
    announce = framing_header(framing, length)
    if announce is not None:
        lines.append(announce)
    lines.extend(extra)
    if not keep:
        lines.append(b"connection: close")
    head = status_line(status, up.reason or None) + b"\r\n".join(lines) + b"\r\n\r\n"
    captured: list[bytes] | None = [] if capture_limit is not None else None
    cap_size = 0
    cap_limit = capture_limit or 0
    first = True
    try:
        while True:
            chunks = up.take()
            if captured is not None:
                for c in chunks:
                    cap_size += len(c)
                if cap_size > cap_limit:
                    captured = None
                else:
                    captured.extend(chunks)
            data = encode_body(framing, chunks, up.complete)
            if first:
                conn.write(head + data)
                first = False
            elif data:
                conn.write(data)
            if up.complete:
                break
            if up.error is not None or conn.closed:
                up.close()
                conn.close()
                return False, None
            await conn.drain()
            await up.wait()
    finally:
        up.release()
    if framing is Framing.UNTIL_CLOSE:
        conn.close()
    return keep, (b"".join(captured) if captured is not None else None)
