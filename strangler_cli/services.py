"""``strangler services ...``: the new services of a running stack.

- ``list``: each service's URL, readiness, lag and events applied (from its
  ``/readyz``), as a table or ``--json``.
- ``rebuild NAME``: drop the service's read model and replay its topics from
  the beginning, with a progress bar until it is ready again.

Services and their URLs come from ``endpoints.json`` in the state dir; the
admin token (rebuild only) from ``--token``, ``STRANGLER_ADMIN_TOKEN`` or the
state dir.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from strangler_cli.clients import http_client, transport_of
from strangler_cli.exit_codes import ExitCode, for_http_status
from strangler_cli.output import cells, console, err, examples, fail, say
from strangler_cli.routes import admin_token
from strangler_cli.state import JsonOpt, StateOpt, read_endpoints

services_app = typer.Typer(help="List the new services and rebuild their read models.", no_args_is_help=True)

TokenOpt = typer.Option(None, "--token", help="Admin token (else STRANGLER_ADMIN_TOKEN, else the state dir).")


def _services(state_dir: Path) -> dict[str, str]:
    services = read_endpoints(state_dir).get("services") or {}
    return {name: str(url).rstrip("/") for name, url in services.items()}


def readiness(url: str, timeout: float = 5.0, transport: httpx.BaseTransport | None = None) -> dict[str, Any]:
    """A service's ``/readyz`` body (ready or not); ``{"reachable": False}`` if it does not answer."""
    try:
        with http_client(transport, timeout) as client:
            body = client.get(f"{url}/readyz").json()
    except (httpx.HTTPError, ValueError) as exc:
        return {"reachable": False, "ready": False, "error": str(exc)}
    if not isinstance(body, dict):
        return {"reachable": True, "ready": False, "error": f"unexpected /readyz answer: {body!r}"}
    return {"reachable": True, **body}


@services_app.command("list", epilog=examples("strangler services list", "strangler services list --json"))
def list_services(ctx: typer.Context, state_dir: Path = StateOpt, as_json: bool = JsonOpt) -> None:
    """Show every new service: URL, ready, lag and events applied."""
    transport = transport_of(ctx)
    rows = [
        {"name": name, "url": url, **readiness(url, transport=transport)}
        for name, url in sorted(_services(state_dir).items())
    ]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title="new services")
    for column in ("service", "url", "ready", "lag (events)", "events applied", "ignored", "skipped", "last event"):
        table.add_column(column)
    for row in rows:
        lag = (row.get("lag") or {}).get("events")
        ready = "yes" if row.get("ready") else ("unreachable" if not row["reachable"] else "no")
        table.add_row(
            *cells(
                row["name"],
                row["url"],
                ready,
                "-" if lag is None else f"{lag:,}",
                f"{row.get('events_applied', 0):,}",
                f"{row.get('events_ignored', 0):,}",
                f"{row.get('events_skipped', 0):,}",
                row.get("last_event_time") or "-",
            )
        )
    console.print(table)


@services_app.command(
    "rebuild",
    epilog=examples("strangler services rebuild pricing", "strangler services rebuild pricing --timeout 600 --json"),
)
def rebuild(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The service, e.g. pricing."),
    state_dir: Path = StateOpt,
    token: str | None = TokenOpt,
    timeout: float = typer.Option(1800.0, "--timeout", help="Give up waiting for ready after this many seconds."),
    as_json: bool = JsonOpt,
) -> None:
    """Drop NAME's read model and replay its events from the beginning.

    The service keeps answering meanwhile (from a read model that fills up
    again); this waits, with a progress bar, until it is ready.
    """
    services = _services(state_dir)
    if name not in services:
        fail(f"unknown service {name!r}; running: {', '.join(sorted(services)) or 'none'}", ExitCode.USAGE)
    url = services[name]
    headers = {"authorization": f"Bearer {admin_token(token, state_dir)}"}
    try:
        with http_client(transport_of(ctx), 30.0) as client:
            response = client.post(f"{url}/_service/rebuild", headers=headers)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {name} at {url}: {exc}", ExitCode.UNREACHABLE)
    if response.status_code != 200:
        fail(
            f"{name} refused the rebuild: {response.status_code} {response.text}", for_http_status(response.status_code)
        )
    began = time.monotonic()
    status = _wait_ready(name, url, began + timeout, show=not as_json, transport=transport_of(ctx))
    result = {
        "service": name,
        "ready": True,
        "seconds": round(time.monotonic() - began, 1),
        "events_applied": status.get("events_applied"),
        "generation": status.get("generation"),
    }
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        say(f"{name} rebuilt: {result['events_applied']:,} events applied in {result['seconds']}s, ready")


def _wait_ready(
    name: str, url: str, deadline: float, *, show: bool, transport: httpx.BaseTransport | None = None
) -> dict[str, Any]:
    from local_stack.processes import NotReady, wait_until

    columns = (TextColumn(f"rebuilding {name}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, disable=not show) as progress:
        task = progress.add_task(name, total=None)

        def rebuilt() -> dict[str, Any] | None:
            status = readiness(url, transport=transport)
            done = sum(status.get(f"events_{kind}") or 0 for kind in ("applied", "ignored", "skipped", "rejected"))
            lag = (status.get("lag") or {}).get("events")
            progress.update(task, completed=done, total=done + lag if lag is not None else None)
            return status if status.get("ready") and status.get("rebuilt_at") else None

        try:
            return wait_until(rebuilt, timeout=max(deadline - time.monotonic(), 0), what=name, interval=0.5)
        except NotReady:
            fail(f"{name} not ready after the rebuild within the timeout")
