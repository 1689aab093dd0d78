"""HTTP clients of the CLI, with one seam for tests.

Every command that talks HTTP takes Typer's context and builds its client
with :func:`http_client`. A test hands the command an ``httpx`` transport
as the context object (``CliRunner().invoke(app, args, obj=transport)``), so
it can answer like the real proxy (or run the real admin API in-process)
without a socket and without patching module globals. In normal runs the
context object is None and httpx's own transport is used.
"""

from __future__ import annotations

import httpx
import typer


def transport_of(ctx: typer.Context | None) -> httpx.BaseTransport | None:
    """The transport a test passed as the context object, if any."""
    obj = ctx.obj if ctx is not None else None
    return obj if isinstance(obj, httpx.BaseTransport) else None


def http_client(transport: httpx.BaseTransport | None = None, timeout: float = 15.0) -> httpx.Client:
    """A client for one command run (use it as a context manager)."""
    return httpx.Client(transport=transport, timeout=timeout)
