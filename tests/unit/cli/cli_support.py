"""Helpers for the CLI's unit tests: the real admin API in-process.

``routes`` commands reach the proxy through an ``httpx`` transport that a
test may pass as Click's context object (``strangler_cli.clients``). Here
that transport hands each request to the proxy's own ``AdminApi`` over an
in-memory ``RouteStore`` (a subclass of the port, no PostgreSQL), so the CLI
is tested against the real validation, diffing and error answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx
from typer.testing import CliRunner, Result

from strangler_cli.main import app
from strangler_proxy.admin import AdminApi
from strangler_proxy.store import RouteStore, Unchanged, Version

TOKEN = "unit-test-admin-token-42"
URL = "http://proxy.test"
WIDE = {"COLUMNS": "200", "STRANGLER_PROXY_URL": None, "STRANGLER_ADMIN_TOKEN": None}


class MemoryRouteStore(RouteStore):
    """The route store's port kept in a list: versions, audit, no mismatches."""

    def __init__(self) -> None:
        super().__init__("postgresql://unused")
        now = datetime.now(timezone.utc)
        self.versions = [Version(1, {"routes": []}, "strangler-proxy", "initial table", "init", None, now)]

    async def latest(self) -> Version:
        return self.versions[-1]

    async def latest_number(self) -> int:
        return self.versions[-1].version

    async def get(self, version: int) -> Version | None:
        return next((v for v in self.versions if v.version == version), None)

    async def history(self, limit: int = 20) -> list[Version]:
        return list(reversed(self.versions))[:limit]

    async def change(self, mutate: Callable[..., Awaitable[tuple[dict[str, Any], int | None]]], *, actor: str,
                     reason: str, kind: str) -> tuple[Version, Version]:
        old = self.versions[-1]
        spec, restored = await mutate(old, self.get)
        if json.dumps(spec, sort_keys=True) == json.dumps(old.spec, sort_keys=True):
            raise Unchanged(f"version {old.version} already is that table")
        new = Version(old.version + 1, spec, actor, reason, kind, restored, datetime.now(timezone.utc))
        self.versions.append(new)
        return old, new

    async def mismatches(self, route: str | None, limit: int = 20) -> list[dict[str, Any]]:
        return []

    async def mismatch_counts(self) -> dict[str, int]:
        return {}


@dataclass
class FakeProxy:
    """The admin API of one proxy, served in-process; counts the requests."""

    services: Sequence[str] = ("pricing",)
    store: MemoryRouteStore = field(default_factory=MemoryRouteStore)
    requests: list[httpx.Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        async def apply_version(version: Version) -> None:
            return None

        self.api = AdminApi(token=TOKEN, store=self.store, services=list(self.services),
                            live_version=lambda: self.store.versions[-1].version, apply_version=apply_version,
                            metrics_text=lambda: "", status=lambda: {})

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        headers = [(k.lower(), v) for k, v in request.headers.raw]
        status, body, ctype = asyncio.run(self.api.handle(request.method, request.url.raw_path, headers,
                                                          request.read()))
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


def invoke(transport: httpx.BaseTransport | None, *args: str, input: str | None = None,
           env: Mapping[str, str | None] | None = None) -> Result:
    """Run ``strangler ARGS`` in-process with the given transport."""
    return CliRunner().invoke(app, list(args), obj=transport, input=input, env={**WIDE, **(env or {})},
                              prog_name="strangler")


def routes(transport: httpx.BaseTransport, *args: str, token: str = TOKEN, input: str | None = None) -> Result:
    """``strangler routes ARGS --url URL --token TOKEN``."""
    return invoke(transport, "routes", *args, "--url", URL, "--token", token, input=input)
