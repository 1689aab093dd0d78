"""Network clients of the CLI: HTTP with one seam for tests, TCP port checks.

Every command that talks HTTP takes Typer's context and builds its client
with :func:`http_client`. A test hands the command an ``httpx`` transport
as the context object (``CliRunner().invoke(app, args, obj=transport)``), so
it can answer like the real proxy (or run the real admin API in-process)
without a socket and without patching module globals. In normal runs the
context object is None and httpx's own transport is used.
"""

from __future__ import annotations

import socket

import httpx
import typer


def transport_of(ctx: typer.Context | None) -> httpx.BaseTransport | None:
    """The transport a test passed as the context object, if any."""
    obj = ctx.obj if ctx is not None else None
    return obj if isinstance(obj, httpx.BaseTransport) else None


def http_client(transport: httpx.BaseTransport | None = None, timeout: float = 15.0) -> httpx.Client:
    """A client for one command run (use it as a context manager)."""
    return httpx.Client(transport=transport, timeout=timeout)


def tcp_open(host: str, port: int, timeout: float) -> str:
    """ "" if ``host:port`` accepts a TCP connection, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return ""
    except OSError as exc:
        return str(exc) or type(exc).__name__


def bootstrap_unreachable(bootstrap: str, timeout: float) -> str:
    """ "" if any of the Kafka bootstrap servers (``host:port,...``) accepts a
    connection, else why none does. A port check, not a Kafka handshake: it
    fails in milliseconds where a Kafka client retries for half a minute."""
    errors = []
    for server in (s.strip() for s in bootstrap.split(",") if s.strip()):
        host, _, port = server.rpartition(":")
        why = tcp_open(host or "localhost", int(port) if port.isdigit() else 9092, timeout)
        if not why:
            return ""
        errors.append(f"{server}: {why}")
    return "; ".join(errors) or "no bootstrap server given"
