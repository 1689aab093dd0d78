"""``strangler routes ...``: drive the proxy's route table through its admin API.

The proxy URL and admin token come from ``--url``/``--token``, else the
environment (``STRANGLER_PROXY_URL``, ``STRANGLER_ADMIN_TOKEN``), else the
state directory of ``strangler up`` (``endpoints.json`` key ``proxy`` and the
0600 file ``admin-token``). Every command prints a table, or JSON with
``--json``. ROUTE is written as a person reads it: ``"GET /api/items/{id}/rate/"``.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any, Optional

import httpx
import typer
import yaml
from rich.console import Console
from rich.table import Table

routes_app = typer.Typer(help="List, flip, audit and roll back the proxy's route table.", no_args_is_help=True)

console = Console()
err = Console(stderr=True)

UrlOpt = typer.Option(None, "--url", help="Proxy base URL (else STRANGLER_PROXY_URL, else the state dir).")
TokenOpt = typer.Option(None, "--token", help="Admin token (else STRANGLER_ADMIN_TOKEN, else the state dir).")
StateOpt = typer.Option(Path(".strangler"), "--state-dir", help="State directory of `strangler up`.")
JsonOpt = typer.Option(False, "--json", help="Print JSON instead of a table.")


class Admin:
    """A small client of the admin API; exits with a clear message on errors."""

    def __init__(self, url: Optional[str], token: Optional[str], state_dir: Path) -> None:
        self.url = (url or os.environ.get("STRANGLER_PROXY_URL") or self._from_state(state_dir)).rstrip("/")
        self.token = admin_token(token, state_dir)
        self.actor = f"{getpass.getuser()}@{socket.gethostname()}"

    @staticmethod
    def _from_state(state_dir: Path) -> str:
        path = state_dir / "endpoints.json"
        try:
            url = json.loads(path.read_text()).get("proxy")
        except (OSError, ValueError):
            url = None
        if not url:
            _fail(f"no proxy URL: pass --url, set STRANGLER_PROXY_URL, or run `strangler up` ({path} has none)")
        return str(url)


    def call(self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        headers = {"authorization": f"Bearer {self.token}", "x-strangler-actor": self.actor}
        try:
            r = httpx.request(method, self.url + path, json=body, params=params, headers=headers, timeout=15.0)
        except httpx.HTTPError as exc:
            _fail(f"cannot reach the proxy at {self.url}: {exc}")
        try:
            data = r.json()
        except ValueError:
            data = {"error": r.text}
        if r.status_code >= 400:
            message = data.get("error", r.text) if isinstance(data, dict) else r.text
            problems = data.get("problems", []) if isinstance(data, dict) else []
            _fail(f"{r.status_code}: {message}" + "".join(f"\n  - {p}" for p in problems), code=1)
        return data


def admin_token(token: Optional[str], state_dir: Path) -> str:
    """The stack's admin token: ``--token``, else ``STRANGLER_ADMIN_TOKEN``,
    else the state dir's 0600 file (shared by every command that needs it)."""
    found = token or os.environ.get("STRANGLER_ADMIN_TOKEN")
    if found:
        return found
    path = state_dir / "admin-token"
    try:
        return path.read_text().strip()
    except OSError:
        _fail(f"no admin token: pass --token, set STRANGLER_ADMIN_TOKEN, or run `strangler up` ({path} missing)")
    raise AssertionError


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _changes_table(changes: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    table.add_column("route")
    table.add_column("change")
    table.add_column("fields")
    for c in changes:
        fields = "; ".join(f"{k}: {json.dumps(v[0])} -> {json.dumps(v[1])}" for k, v in c["fields"].items())
        colour = {"added": "green", "removed": "red"}.get(c["change"], "yellow")
        table.add_row(c["route"], f"[{colour}]{c['change']}[/{colour}]", fields)
    return table


@routes_app.command("list")
def list_routes(url: Optional[str] = UrlOpt, token: Optional[str] = TokenOpt, state_dir: Path = StateOpt,
                as_json: bool = JsonOpt) -> None:
    """Show the live route table (anything not listed goes to legacy)."""
    data = Admin(url, token, state_dir).call("GET", "/_strangler/routes")
    if as_json:
        _print_json(data)
        return
    table = Table(title=f"route table v{data['version']} (this proxy process serves v{data['live_version']})")
    for col in ("route", "mode", "service", "weight", "fallback", "timeout"):
        table.add_column(col)
    for r in data["routes"]:
        table.add_row(r["key"], r["mode"], r.get("service") or "-",
                      str(r.get("weight", "-")) if r["mode"] == "canary" else "-",
                      "yes" if r.get("fallback") else "no", f"{r.get('timeout')}s")
    table.add_row("(everything else)", "legacy", "-", "-", "-", "-")
    console.print(table)


@routes_app.command("set")
def set_route(
    route: str = typer.Argument(..., help='e.g. "GET /api/items/{id}/rate/"'),
    mode: str = typer.Option(..., "--mode", help="legacy | shadow | canary | new | retired"),
    weight: Optional[int] = typer.Option(None, "--weight", min=0, max=100, help="canary percentage"),
    service: Optional[str] = typer.Option(None, "--service", help="target new service"),
    reason: str = typer.Option("", "--reason", help="why (recorded in the audit log)"),
    url: Optional[str] = UrlOpt, token: Optional[str] = TokenOpt, state_dir: Path = StateOpt, as_json: bool = JsonOpt,
) -> None:
    """Flip one route (refused whole if the resulting table is invalid)."""
    body = {"route": route, "mode": mode, "weight": weight, "service": service, "reason": reason}
    data = Admin(url, token, state_dir).call("POST", "/_strangler/routes/set", body=body)
    if as_json:
        _print_json(data)
        return
    console.print(_changes_table(data["changes"], f"version {data['previous']} -> {data['version']}"))


@routes_app.command("history")
def history(limit: int = typer.Option(20, "--limit", min=1, max=500), url: Optional[str] = UrlOpt,
            token: Optional[str] = TokenOpt, state_dir: Path = StateOpt, as_json: bool = JsonOpt) -> None:
    """Every version of the table: who changed it, when and why."""
    data = Admin(url, token, state_dir).call("GET", "/_strangler/routes/history", params={"limit": limit})
    if as_json:
        _print_json(data)
        return
    table = Table(title="route table history (newest first)")
    for col in ("version", "when", "who", "kind", "why", "routes"):
        table.add_column(col)
    for v in data["versions"]:
        kind = v["kind"] + (f" (of v{v['restored_from']})" if v.get("restored_from") else "")
        table.add_row(str(v["version"]), v["created_at"][:19], v["actor"], kind, v["reason"], str(v["routes"]))
    console.print(table)


@routes_app.command("rollback")
def rollback(to: Optional[int] = typer.Option(None, "--to", help="version to restore (default: the previous one)"),
             reason: str = typer.Option("", "--reason"), url: Optional[str] = UrlOpt, token: Optional[str] = TokenOpt,
             state_dir: Path = StateOpt, as_json: bool = JsonOpt) -> None:
    """Restore an earlier version as a new version (history is never rewritten)."""
    data = Admin(url, token, state_dir).call("POST", "/_strangler/routes/rollback", body={"to": to, "reason": reason})
    if as_json:
        _print_json(data)
        return
    console.print(_changes_table(data["changes"], f"version {data['previous']} -> {data['version']}"))


@routes_app.command("diffs")
def diffs(route: str = typer.Argument(..., help='e.g. "GET /api/items/{id}/rate/"'),
          limit: int = typer.Option(20, "--limit", min=1, max=200), url: Optional[str] = UrlOpt,
          token: Optional[str] = TokenOpt, state_dir: Path = StateOpt, as_json: bool = JsonOpt) -> None:
    """Recent shadow mismatches of one route, field by field."""
    data = Admin(url, token, state_dir).call("GET", "/_strangler/diffs", params={"route": route, "limit": limit})
    if as_json:
        _print_json(data)
        return
    table = Table(title=f"shadow mismatches of {route} ({data['counts'].get(route, 0)} stored)")
    for col in ("when", "request", "status legacy/new", "field", "legacy", "new"):
        table.add_column(col)
    for m in data["mismatches"]:
        for d in m["differences"] or [{"path": "-", "legacy": "", "new": ""}]:
            table.add_row(m["created_at"][:19], f"{m['method']} {m['target']}", f"{m['legacy_status']}/{m['new_status']}",
                          d["path"], json.dumps(d["legacy"]), json.dumps(d["new"]))
    console.print(table)


@routes_app.command("apply")
def apply(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="YAML route table"),
          reason: str = typer.Option("", "--reason"), yes: bool = typer.Option(False, "--yes", "-y", help="apply without asking"),
          url: Optional[str] = UrlOpt, token: Optional[str] = TokenOpt, state_dir: Path = StateOpt,
          as_json: bool = JsonOpt) -> None:
    """Validate a YAML table, show the diff against the live one, then apply it."""
    try:
        spec = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        _fail(f"{file}: not valid YAML: {exc}")
    admin = Admin(url, token, state_dir)
    preview = admin.call("PUT", "/_strangler/routes", body={"table": spec, "dry_run": True})
    if not preview["changes"]:
        if as_json:
            _print_json({"version": preview["version"], "changes": []})
        else:
            console.print(f"nothing to change: version {preview['version']} already matches {file}")
        return
    if not as_json:
        console.print(_changes_table(preview["changes"], f"changes against version {preview['version']}"))
    if not yes and not typer.confirm("apply these changes?"):
        raise typer.Exit(1)
    data = admin.call("PUT", "/_strangler/routes", body={"table": spec, "reason": reason or f"apply {file.name}"})
    if as_json:
        _print_json(data)
    else:
        console.print(f"applied: version {data['previous']} -> {data['version']}")
