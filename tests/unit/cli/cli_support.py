"""Helpers for the CLI's unit tests: the real admin API in-process.

``routes`` commands reach the proxy through an ``httpx`` transport that a
test may pass as Click's context object (``strangler_cli.clients``). Here
that transport hands each request to the proxy's own ``AdminApi`` over an
in-memory route repository (the port's fake, no PostgreSQL), so the CLI
is tested against the real validation, diffing and error answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from typer.testing import CliRunner, Result

from strangler_cli.main import app
from strangler_proxy.admin import AdminApi
from strangler_proxy.memory_routes import InMemoryRouteRepository
from strangler_proxy.route_commands import RouteCommands
from strangler_proxy.route_repository import Version

TOKEN = "unit-test-admin-token-42"
URL = "http://proxy.test"
WIDE = {"COLUMNS": "200", "STRANGLER_PROXY_ADMIN_URL": None, "STRANGLER_ADMIN_TOKEN": None}


@dataclass
class FakeProxy:
    """The admin API of one proxy, served in-process; counts the requests."""

    services: Sequence[str] = ("pricing",)
    store: InMemoryRouteRepository = field(default_factory=InMemoryRouteRepository)
    requests: list[httpx.Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        async def apply_version(version: Version) -> None:
            return None

        commands = RouteCommands(self.store, list(self.services), apply_version)
        self.api = AdminApi(
            token=TOKEN,
            commands=commands,
            routes=self.store,
            mismatches=self.store,
            live_version=lambda: self.store.versions[-1].version,
            metrics_text=lambda: "",
            status=dict,
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        headers = [(k.lower(), v) for k, v in request.headers.raw]
        status, body, ctype = asyncio.run(
            self.api.handle(request.method, request.url.raw_path, headers, request.read())
        )
        return httpx.Response(status, content=body, headers={"content-type": ctype.decode()})

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def spec(self) -> dict[str, Any]:
        return self.store.versions[-1].spec


def answering(status: int, payload: Any) -> httpx.MockTransport:
    """A proxy that answers every request with ``status`` and ``payload``."""
    return httpx.MockTransport(lambda request: httpx.Response(status, json=payload))


def refusing() -> httpx.MockTransport:
    """A proxy that is down: every connection is refused."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    return httpx.MockTransport(handler)


def invoke(
    transport: httpx.BaseTransport | None,
    *args: str,
    input: str | None = None,
    env: Mapping[str, str | None] | None = None,
) -> Result:
    """Run ``strangler ARGS`` in-process with the given transport."""
    return CliRunner().invoke(
        app, list(args), obj=transport, input=input, env={**WIDE, **(env or {})}, prog_name="strangler"
    )


def routes(transport: httpx.BaseTransport, *args: str, token: str = TOKEN, input: str | None = None) -> Result:
    """``strangler routes ARGS --url URL --token TOKEN``."""
    return invoke(transport, "routes", *args, "--url", URL, "--token", token, input=input)
