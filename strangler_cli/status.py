"""``strangler status``: the whole local stack at a glance.

Reads ``endpoints.json`` from the state dir and probes every part it names,
in parallel and with a short timeout each, so a hung part costs one timeout,
not one per part:

- the proxy: ``GET /_strangler/health`` on its admin listener (key
  ``proxy_admin``; the route table version it serves);
- the legacy monolith: any HTTP answer below 500 from ``/admin/login/``;
- each new service: ``/readyz`` (up and ready, up but not ready, or down);
- the broker and PostgreSQL: their TCP port accepts a connection.

It also says whether the ``strangler up`` launcher (its pid) is still alive:
``endpoints.json`` outlives a launcher that was killed with SIGKILL.
Database URLs carry passwords: only host and port are ever printed.
Exit code 0 if every part answers (a service catching up is "not ready", not
down), 3 if a part is down, the launcher is gone or no stack runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import typer
from rich.table import Table
from rich.text import Text

from strangler_cli.clients import bootstrap_unreachable, http_client, tcp_open, transport_of
from strangler_cli.exit_codes import ExitCode
from strangler_cli.output import cells, console, examples, print_json
from strangler_cli.services import readiness
from strangler_cli.state import JsonOpt, StateOpt, read_endpoints

UP, DOWN, NOT_READY = "up", "down", "not ready"
_STYLE = {UP: "green", DOWN: "red", NOT_READY: "yellow"}


@dataclass(frozen=True)
class Probe:
    """What one part of the stack answered."""

    part: str
    address: str
    state: str
    pid: int | None = None
    detail: str = ""


Transport = httpx.BaseTransport | None


def _http_get(url: str, timeout: float, transport: Transport) -> httpx.Response:
    with http_client(transport, timeout) as client:
        return client.get(url)


def probe_proxy(
    url: str, pid: int | None, timeout: float, transport: Transport = None, *, admin_url: str | None = None
) -> Probe:
    """The proxy's health comes from its admin listener (``admin_url``;
    the public ``url`` of a stack started before it existed serves it)."""
    try:
        response = _http_get(f"{admin_url or url}/_strangler/health", timeout, transport)
        health = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as exc:
        return Probe("proxy", url, DOWN, pid, str(exc))
    if not isinstance(health, dict):
        return Probe("proxy", url, DOWN, pid, f"HTTP {response.status_code}")
    return Probe("proxy", url, UP, pid, f"serves route table v{health.get('version')}")


def probe_legacy(url: str, pid: int | None, timeout: float, transport: Transport = None) -> Probe:
    try:
        response = _http_get(f"{url}/admin/login/", timeout, transport)
    except httpx.HTTPError as exc:
        return Probe("legacy", url, DOWN, pid, str(exc))
    state = UP if response.status_code < 500 else DOWN
    return Probe("legacy", url, state, pid, f"HTTP {response.status_code}")


def probe_service(name: str, url: str, pid: int | None, timeout: float, transport: Transport = None) -> Probe:
    status = readiness(url, timeout, transport)
    part = f"service {name}"
    if not status["reachable"]:
        return Probe(part, url, DOWN, pid, str(status.get("error", "")))
    lag = (status.get("lag") or {}).get("events")
    detail = f"lag {'-' if lag is None else f'{lag:,}'} events, {status.get('events_applied', 0):,} applied"
    return Probe(part, url, UP if status.get("ready") else NOT_READY, pid, detail)


def probe_kafka(bootstrap: str, pid: int | None, timeout: float) -> Probe:
    """Up if any bootstrap server's port is open (a Kafka port, not a full client)."""
    why = bootstrap_unreachable(bootstrap, timeout)
    return Probe("kafka", bootstrap, DOWN if why else UP, pid, why or "port open")


def postgres_servers(databases: dict[str, str]) -> dict[str, list[str]]:
    """``host:port`` of each PostgreSQL server -> the databases on it (no passwords)."""
    servers: dict[str, list[str]] = {}
    for name, dsn in databases.items():
        parts = urlsplit(str(dsn))
        address = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
        servers.setdefault(address, []).append(name)
    return servers


def probe_postgres(address: str, names: list[str], pid: int | None, timeout: float) -> Probe:
    host, _, port = address.rpartition(":")
    why = tcp_open(host, int(port), timeout)
    detail = f"databases {', '.join(names)}" + (f"; {why}" if why else "")
    return Probe("postgres", address, DOWN if why else UP, pid, detail)


def launcher(endpoints: dict[str, Any]) -> dict[str, Any]:
    """The ``strangler up`` process: is it still alive?"""
    pid = endpoints.get("pid")
    if not isinstance(pid, int):
        return {"pid": None, "alive": None}
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return {"pid": pid, "alive": False}
    except PermissionError:
        pass  # exists, owned by someone else
    return {"pid": pid, "alive": True}


def probes(endpoints: dict[str, Any], timeout: float, transport: Transport = None) -> list[Callable[[], Probe]]:
    """One callable per part named in ``endpoints.json``, in display order."""
    pids: dict[str, int] = endpoints.get("processes") or {}
    checks: list[Callable[[], Probe]] = []
    if endpoints.get("proxy"):
        admin_url = endpoints.get("proxy_admin")
        checks.append(
            lambda: probe_proxy(endpoints["proxy"], pids.get("proxy"), timeout, transport, admin_url=admin_url)
        )
    if endpoints.get("legacy"):
        checks.append(lambda: probe_legacy(endpoints["legacy"], pids.get("legacy"), timeout, transport))
    for name, url in sorted((endpoints.get("services") or {}).items()):
        checks.append(partial(probe_service, name, str(url).rstrip("/"), pids.get(name), timeout, transport))
    if endpoints.get("kafka"):
        checks.append(lambda: probe_kafka(str(endpoints["kafka"]), pids.get("kafka"), timeout))
    for address, names in postgres_servers(endpoints.get("databases") or {}).items():
        checks.append(partial(probe_postgres, address, names, pids.get("postgres"), timeout))
    return checks


def collect(endpoints: dict[str, Any], timeout: float, transport: Transport = None) -> list[Probe]:
    """Every probe, run in parallel; results in display order."""
    checks = probes(endpoints, timeout, transport)
    if not checks:
        return []
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        return list(pool.map(lambda check: check(), checks))


def _table(results: list[Probe], state_dir: Path, boss: dict[str, Any]) -> Table:
    alive = {True: "running", False: "gone (endpoints.json is stale)", None: "unknown"}[boss["alive"]]
    table = Table(title=Text(f"stack in {state_dir}: launcher pid {boss['pid'] or '-'} {alive}"), title_justify="left")
    for col in ("part", "address", "state", "pid", "detail"):
        table.add_column(col)
    for p in results:
        table.add_row(*cells(p.part, p.address, Text(p.state, style=_STYLE.get(p.state, "")), p.pid, p.detail))
    return table


def status(
    ctx: typer.Context,
    state_dir: Path = StateOpt,
    as_json: bool = JsonOpt,
    timeout: float = typer.Option(3.0, "--timeout", min=0.1, help="Seconds to wait for each part."),
) -> None:
    """Every part of the running stack: up, not ready or down."""
    endpoints = read_endpoints(state_dir)
    results = collect(endpoints, timeout, transport_of(ctx))
    boss = launcher(endpoints)
    ok = all(p.state != DOWN for p in results) and boss["alive"] is not False
    if as_json:
        print_json({"state_dir": str(state_dir), "ok": ok, "launcher": boss, "parts": [asdict(p) for p in results]})
    else:
        console.print(_table(results, state_dir, boss))
    if not ok:
        raise typer.Exit(int(ExitCode.UNREACHABLE))


STATUS_EXAMPLES = examples(
    "strangler status",
    "strangler status --json | jq '.parts[] | select(.state != \"up\")'",
    "strangler status --state-dir /tmp/stack --timeout 1",
)
