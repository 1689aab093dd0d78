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
from typing import Any, Optional

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from strangler_cli.routes import admin_token

services_app = typer.Typer(help="List the new services and rebuild their read models.", no_args_is_help=True)

console = Console()
err = Console(stderr=True)

StateOpt = typer.Option(Path(".strangler"), "--state-dir", help="State directory of `strangler up`.")
JsonOpt = typer.Option(False, "--json", help="Print JSON instead of a table.")
TokenOpt = typer.Option(None, "--token", help="Admin token (else STRANGLER_ADMIN_TOKEN, else the state dir).")


def _fail(message: str, code: int = 1) -> None:
    err.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(code)


def _services(state_dir: Path) -> dict[str, str]:
    path = state_dir / "endpoints.json"
    try:
        services = json.loads(path.read_text()).get("services") or {}
    except (OSError, ValueError):
        _fail(f"no running stack: {path} not found (run `strangler up`, or pass --state-dir)")
    return {name: str(url).rstrip("/") for name, url in services.items()}


def readiness(url: str) -> dict[str, Any]:
    """A service's ``/readyz`` body (ready or not); ``{"reachable": False}`` if it does not answer."""
    try:
        response = httpx.get(f"{url}/readyz", timeout=5.0)
        body: dict[str, Any] = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return {"reachable": False, "ready": False, "error": str(exc)}
    return {"reachable": True, **body}


@services_app.command("list")
def list_services(state_dir: Path = StateOpt, as_json: bool = JsonOpt) -> None:
    """Show every new service: URL, ready, lag and events applied.

    Example: strangler services list --json
    """
    rows = [{"name": name, "url": url, **readiness(url)} for name, url in sorted(_services(state_dir).items())]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title="new services")
    for column in ("service", "url", "ready", "lag (events)", "events applied", "ignored", "skipped", "last event"):
        table.add_column(column)
    for row in rows:
        lag = (row.get("lag") or {}).get("events")
        ready = "yes" if row.get("ready") else ("unreachable" if not row["reachable"] else "no")
        table.add_row(row["name"], row["url"], ready, "-" if lag is None else f"{lag:,}",
                      f"{row.get('events_applied', 0):,}", f"{row.get('events_ignored', 0):,}",
                      f"{row.get('events_skipped', 0):,}",
                      row.get("last_event_time") or "-")
    console.print(table)


@services_app.command("rebuild")
def rebuild(
    name: str = typer.Argument(..., help="The service, e.g. pricing."),
    state_dir: Path = StateOpt,
    token: Optional[str] = TokenOpt,
    timeout: float = typer.Option(1800.0, "--timeout", help="Give up waiting for ready after this many seconds."),
    as_json: bool = JsonOpt,
) -> None:
    """Drop NAME's read model and replay its events from the beginning.

    The service keeps answering meanwhile (from a read model that fills up
    again); this waits, with a progress bar, until it is ready.

    Example: strangler services rebuild pricing
    """
    services = _services(state_dir)
    if name not in services:
        _fail(f"unknown service {name!r}; running: {', '.join(sorted(services)) or 'none'}")
    url = services[name]
    try:
        response = httpx.post(f"{url}/_service/rebuild", timeout=30.0,
                              headers={"authorization": f"Bearer {admin_token(token, state_dir)}"})
    except httpx.HTTPError as exc:
        _fail(f"cannot reach {name} at {url}: {exc}")
    if response.status_code != 200:
        _fail(f"{name} refused the rebuild: {response.status_code} {response.text}")
    began = time.monotonic()
    status = _wait_ready(name, url, began + timeout, show=not as_json)
    result = {"service": name, "ready": True, "seconds": round(time.monotonic() - began, 1),
              "events_applied": status.get("events_applied"), "generation": status.get("generation")}
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        console.print(f"{name} rebuilt: {result['events_applied']:,} events applied in {result['seconds']}s, ready")


def _wait_ready(name: str, url: str, deadline: float, *, show: bool) -> dict[str, Any]:
    columns = (TextColumn(f"rebuilding {name}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, disable=not show) as progress:
        task = progress.add_task(name, total=None)
        while time.monotonic() < deadline:
            status = readiness(url)
            done = sum(status.get(f"events_{kind}") or 0 for kind in ("applied", "ignored", "skipped", "rejected"))
            lag = (status.get("lag") or {}).get("events")
            progress.update(task, completed=done, total=done + lag if lag is not None else None)
            if status.get("ready") and status.get("rebuilt_at"):
                return status
            time.sleep(0.5)
    _fail(f"{name} not ready after the rebuild within the timeout")
    raise AssertionError
