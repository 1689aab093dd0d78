"""``strangler routes ...``: drive the proxy's route table through its admin API.

The proxy's admin URL and token come from ``--url``/``--token``, else the
environment (``STRANGLER_PROXY_ADMIN_URL``, ``STRANGLER_ADMIN_TOKEN``), else
the state directory of ``strangler up`` (``endpoints.json`` key
``proxy_admin`` and the 0600 file ``admin-token``). The admin API listens on
its own address (loopback by default), never on the public proxy port. Every command prints a table, or JSON with
``--json``. ROUTE is written as a person reads it: ``"GET /api/items/{id}/rate/"``.

``validate`` needs no proxy: it runs the proxy's own validation
(``strangler_proxy.routing``) on a file, for CI. ``export`` writes the live
table in the form ``apply`` takes back.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
import typer
import yaml
from rich.table import Table
from rich.text import Text

from strangler_cli.clients import http_client, transport_of
from strangler_cli.exit_codes import ExitCode, for_http_status
from strangler_cli.output import cells, console, err, examples, fail, print_json, say
from strangler_cli.state import JsonOpt, StateOpt, endpoints_or_none

routes_app = typer.Typer(help="List, flip, audit, export and validate the proxy's route table.", no_args_is_help=True)

UrlOpt = typer.Option(None, "--url", help="The proxy's admin URL (else STRANGLER_PROXY_ADMIN_URL, else the state dir).")
TokenOpt = typer.Option(None, "--token", help="Admin token (else STRANGLER_ADMIN_TOKEN, else the state dir).")
RouteArg = typer.Argument(..., help='e.g. "GET /api/items/{id}/rate/"')

RATE = '"GET /api/items/{id}/rate/"'


class Mode(str, Enum):
    """How the proxy serves a route: the names of ``strangler_proxy.routing.MODES``
    (spelled out so help and shell completion list them; a unit test keeps
    the two equal)."""

    legacy = "legacy"
    shadow = "shadow"
    canary = "canary"
    new = "new"
    retired = "retired"


class Admin:
    """A small client of the admin API; exits with a clear message and a
    distinct exit code on errors. The token is sent, never printed."""

    def __init__(self, ctx: typer.Context, url: str | None, token: str | None, state_dir: Path) -> None:
        self.url = (url or os.environ.get("STRANGLER_PROXY_ADMIN_URL") or self._from_state(state_dir)).rstrip("/")
        self._token = admin_token(token, state_dir)
        self._transport = transport_of(ctx)
        self.actor = f"{getpass.getuser()}@{socket.gethostname()}"

    @staticmethod
    def _from_state(state_dir: Path) -> str:
        url = (endpoints_or_none(state_dir) or {}).get("proxy_admin")
        if not url:
            fail(
                f"no proxy URL for the admin API: pass --url, set STRANGLER_PROXY_ADMIN_URL, or run `strangler up` "
                f"({state_dir / 'endpoints.json'} has none)",
                ExitCode.UNREACHABLE,
            )
        return str(url)

    def call(self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        """One admin API request; the JSON answer, or exit with the matching code."""
        headers = {"authorization": f"Bearer {self._token}", "x-strangler-actor": self.actor}
        try:
            with http_client(self._transport) as client:
                r = client.request(method, self.url + path, json=body, params=params, headers=headers)
        except httpx.HTTPError as exc:
            fail(f"cannot reach the proxy at {self.url}: {exc}", ExitCode.UNREACHABLE)
        try:
            data = r.json()
        except ValueError:
            data = {"error": r.text}
        if r.status_code >= 400:
            fail(_error_text(r.status_code, data, r.text), for_http_status(r.status_code))
        return data


def _error_text(status: int, data: Any, raw: str) -> str:
    """The admin API's error and problems, one per line, plus a hint for 401/403."""
    message = data.get("error", raw) if isinstance(data, dict) else raw
    problems = data.get("problems", []) if isinstance(data, dict) else []
    text = f"{status}: {message}" + "".join(f"\n  - {p}" for p in problems)
    if status in (401, 403):
        text += "\n  (the admin token comes from --token, STRANGLER_ADMIN_TOKEN or <state-dir>/admin-token)"
    return text


def admin_token(token: str | None, state_dir: Path) -> str:
    """The stack's admin token: ``--token``, else ``STRANGLER_ADMIN_TOKEN``,
    else the state dir's 0600 file (shared by every command that needs it)."""
    found = token or os.environ.get("STRANGLER_ADMIN_TOKEN")
    if found:
        return found
    path = state_dir / "admin-token"
    try:
        return path.read_text().strip()
    except OSError:
        fail(
            f"no admin token: pass --token, set STRANGLER_ADMIN_TOKEN, or run `strangler up` ({path} missing)",
            ExitCode.UNAUTHORISED,
        )


def _changes_table(changes: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    for col in ("route", "change", "fields"):
        table.add_column(col)
    for c in changes:
        fields = "; ".join(f"{k}: {json.dumps(v[0])} -> {json.dumps(v[1])}" for k, v in c["fields"].items())
        colour = {"added": "green", "removed": "red"}.get(c["change"], "yellow")
        table.add_row(*cells(c["route"], Text(c["change"], style=colour), fields))
    return table


@routes_app.command(
    "list", epilog=examples("strangler routes list", "strangler routes list --json | jq '.routes[].key'")
)
def list_routes(
    ctx: typer.Context,
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
    state_dir: Path = StateOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Show the live route table (anything not listed goes to legacy)."""
    data = Admin(ctx, url, token, state_dir).call("GET", "/_strangler/routes")
    if as_json:
        print_json(data)
        return
    table = Table(title=f"route table v{data['version']} (this proxy process serves v{data['live_version']})")
    for col in ("route", "mode", "service", "weight", "fallback", "timeout", "writes"):
        table.add_column(col)
    for r in data["routes"]:
        table.add_row(
            *cells(
                r["key"],
                r["mode"],
                r.get("service") or "-",
                r.get("weight", "-") if r["mode"] == "canary" else "-",
                "yes" if r.get("fallback") else "no",
                f"{r.get('timeout')}s",
                r.get("writes") or "-",
            )
        )
    table.add_row(*cells("(everything else)", "legacy", "-", "-", "-", "-", "-"))
    console.print(table)


@routes_app.command(
    "set",
    epilog=examples(
        f'strangler routes set {RATE} --mode shadow --service pricing --reason "compare"',
        f"strangler routes set {RATE} --mode canary --weight 10",
        f'strangler routes set {RATE} --mode legacy --reason "back"',
    ),
)
def set_route(
    ctx: typer.Context,
    route: str = RouteArg,
    mode: Mode = typer.Option(..., "--mode", help="How the proxy serves the route.", case_sensitive=False),
    weight: int | None = typer.Option(None, "--weight", min=0, max=100, help="canary percentage"),
    service: str | None = typer.Option(None, "--service", help="target new service"),
    reason: str = typer.Option("", "--reason", help="why (recorded in the audit log)"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
    state_dir: Path = StateOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Flip one route (refused whole if the resulting table is invalid)."""
    body = {"route": route, "mode": mode.value, "weight": weight, "service": service, "reason": reason}
    data = Admin(ctx, url, token, state_dir).call("POST", "/_strangler/routes/set", body=body)
    if as_json:
        print_json(data)
        return
    console.print(_changes_table(data["changes"], f"version {data['previous']} -> {data['version']}"))


@routes_app.command("history", epilog=examples("strangler routes history", "strangler routes history --limit 5 --json"))
def history(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", min=1, max=500),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
    state_dir: Path = StateOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Every version of the table: who changed it, when and why."""
    data = Admin(ctx, url, token, state_dir).call("GET", "/_strangler/routes/history", params={"limit": limit})
    if as_json:
        print_json(data)
        return
    table = Table(title="route table history (newest first)")
    for col in ("version", "when", "who", "kind", "why", "routes"):
        table.add_column(col)
    for v in data["versions"]:
        kind = v["kind"] + (f" (of v{v['restored_from']})" if v.get("restored_from") else "")
        table.add_row(*cells(v["version"], v["created_at"][:19], v["actor"], kind, v["reason"], v["routes"]))
    console.print(table)


@routes_app.command(
    "rollback", epilog=examples('strangler routes rollback --reason "errors"', "strangler routes rollback --to 3")
)
def rollback(
    ctx: typer.Context,
    to: int | None = typer.Option(None, "--to", help="version to restore (default: the previous one)"),
    reason: str = typer.Option("", "--reason"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
    state_dir: Path = StateOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Restore an earlier version as a new version (history is never rewritten)."""
    data = Admin(ctx, url, token, state_dir).call(
        "POST", "/_strangler/routes/rollback", body={"to": to, "reason": reason}
    )
    if as_json:
        print_json(data)
        return
    console.print(_changes_table(data["changes"], f"version {data['previous']} -> {data['version']}"))


@routes_app.command("diffs", epilog=examples(f"strangler routes diffs {RATE}", f"strangler routes diffs {RATE} --json"))
def diffs(
    ctx: typer.Context,
    route: str = RouteArg,
    limit: int = typer.Option(20, "--limit", min=1, max=200),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
    state_dir: Path = StateOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Recent shadow mismatches of one route, field by field."""
    data = Admin(ctx, url, token, state_dir).call("GET", "/_strangler/diffs", params={"route": route, "limit": limit})
    if as_json:
        print_json(data)
        return
    table = Table(title=Text(f"shadow mismatches of {route} ({data['counts'].get(route, 0)} stored)"))
    for col in ("when", "request", "status legacy/new", "field", "legacy", "new"):
        table.add_column(col)
    for m in data["mismatches"]:
        for d in m["differences"] or [{"path": "-", "legacy": "", "new": ""}]:
            table.add_row(
                *cells(
                    m["created_at"][:19],
                    f"{m['method']} {m['target']}",
                    f"{m['legacy_status']}/{m['new_status']}",
                    d["path"],
                    json.dumps(d["legacy"]),
                    json.dumps(d["new"]),
                )
            )
    console.print(table)


@routes_app.command(
    "set-writes",
    epilog=examples(
        'strangler routes set-writes market --mode new --reason "market takes the writes"',
        'strangler routes set-writes market --mode legacy --reason "back"',
    ),
)
def set_writes(
    ctx: typer.Context,
    context: str = typer.Argument(..., help="the context named by the routes' writes: (e.g. market)"),
    mode: Mode = typer.Option(..., "--mode", help="legacy or new (writes are never shadowed or canaried)."),
    service: str | None = typer.Option(None, "--service", help="the service that takes the writes"),
    reason: str = typer.Option("", "--reason", help="why (recorded in the audit log)"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
    state_dir: Path = StateOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Flip every write route of a context at once, recording its new owner."""
    body = {"context": context, "mode": mode.value, "service": service, "reason": reason}
    data = Admin(ctx, url, token, state_dir).call("POST", "/_strangler/routes/writes", body=body)
    if as_json:
        print_json(data)
        return
    console.print(_changes_table(data["changes"], f"version {data['previous']} -> {data['version']}"))


@routes_app.command("owners", epilog=examples("strangler routes owners", "strangler routes owners --json"))
def owners(
    ctx: typer.Context,
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
    state_dir: Path = StateOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Who writes each context's data (legacy or a service), recorded with
    the route version that flipped its write routes (`writes:` in the table).
    A context not listed is written by legacy. After a flip back to legacy,
    `handover` shows the service still handing the writes back: the monolith
    refuses them until that service's last events are applied by sync-back."""
    data = Admin(ctx, url, token, state_dir).call("GET", "/_strangler/owners")
    if as_json:
        print_json(data)
        return
    table = Table(title="write owners (one writer per context; not listed: legacy)")
    for col in ("context", "owner", "since", "route version", "handover"):
        table.add_column(col)
    for o in data["owners"]:
        table.add_row(*cells(o["context"], o["owner"], o["since"][:19], o["route_version"], _handover(o)))
    console.print(table)


def _handover(owner: dict[str, Any]) -> str:
    """The handover column: empty, or who hands back and how far it is."""
    source = owner.get("handover_from")
    if not source:
        return ""
    if owner.get("handover_offsets") is None:
        return f"from {source}: draining its writes"
    return f"from {source}: drained; legacy writes once sync-back applied it"


def _load_table(file: Path) -> Any:
    """The YAML (or JSON) table in ``file``; exit 5 if it cannot be read as one."""
    try:
        return yaml.safe_load(file.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        fail(f"{file}: not valid YAML: {exc}", ExitCode.REFUSED)


def _confirm(as_json: bool, count: int) -> None:
    """Ask on stderr before applying; never prompt when output is for a script.

    No answer at all (stdin closed, as in CI) is the same as --json: exit 6
    saying to pass --yes. A "no" or Ctrl-C at a terminal is exit 1."""
    needs_yes = f"{count} change(s) need confirmation: pass --yes to apply them (or --dry-run to only show them)"
    if as_json:
        fail(needs_yes, ExitCode.NEEDS_CONFIRMATION)
    try:
        confirmed = typer.confirm("apply these changes?", err=True)
    except typer.Abort:
        if not sys.stdin.isatty():
            fail(f"no answer on stdin; {needs_yes}", ExitCode.NEEDS_CONFIRMATION)
        confirmed = False
    if not confirmed:
        fail("not applied", ExitCode.FAILURE)


@routes_app.command(
    "apply",
    epilog=examples(
        "strangler routes apply routes.example.yaml",
        'strangler routes apply routes.yaml --yes --reason "release 42" --json',
        "strangler routes apply routes.yaml --dry-run --json",
    ),
)
def apply(
    ctx: typer.Context,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="YAML route table"),
    reason: str = typer.Option("", "--reason"),
    yes: bool = typer.Option(False, "--yes", "-y", help="apply without asking (required with --json)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="only show the changes"),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
    state_dir: Path = StateOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Validate a YAML table, show the diff against the live one, then apply it.

    With --json, or when nobody can answer (stdin closed), nothing is asked:
    changes are applied only with --yes, otherwise the command exits 6 and
    says so on stderr.
    """
    spec = _load_table(file)
    admin = Admin(ctx, url, token, state_dir)
    preview = admin.call("PUT", "/_strangler/routes", body={"table": spec, "dry_run": True})
    changes = preview["changes"]
    if not changes or dry_run:
        if as_json:
            print_json({"version": preview["version"], "dry_run": dry_run, "changes": changes})
        elif changes:
            console.print(_changes_table(changes, f"changes against version {preview['version']} (dry run)"))
        else:
            say(f"nothing to change: version {preview['version']} already matches {file}")
        return
    if not as_json:
        console.print(_changes_table(changes, f"changes against version {preview['version']}"))
    if not yes:
        _confirm(as_json, len(changes))
    data = admin.call("PUT", "/_strangler/routes", body={"table": spec, "reason": reason or f"apply {file.name}"})
    if as_json:
        print_json(data)
    else:
        say(f"applied: version {data['previous']} -> {data['version']}")


def live_table(data: dict[str, Any]) -> dict[str, Any]:
    """The table ``GET /_strangler/routes`` describes, in the form ``apply`` takes."""
    routes = sorted(data["routes"], key=lambda r: (r["path"], r["key"]))
    return {"routes": [{k: v for k, v in r.items() if k != "key"} for r in routes]}


@routes_app.command(
    "export",
    epilog=examples(
        "strangler routes export > routes.yaml",
        "strangler routes export -o routes.yaml && strangler routes apply routes.yaml",
    ),
)
def export(
    ctx: typer.Context,
    output: Path | None = typer.Option(
        None, "--output", "-o", dir_okay=False, help="Write to this file instead of stdout."
    ),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
    state_dir: Path = StateOpt,
    as_json: bool = typer.Option(False, "--json", help="Write JSON instead of YAML (apply reads both)."),
) -> None:
    """Write the live route table as YAML that `routes apply` takes back."""
    admin = Admin(ctx, url, token, state_dir)
    data = admin.call("GET", "/_strangler/routes")
    table = live_table(data)
    if as_json:
        text = json.dumps(table, indent=2) + "\n"
    else:
        header = (
            f"# strangler route table, version {data['version']}, exported from {admin.url}\n"
            "# apply it with: strangler routes apply FILE\n"
        )
        text = header + yaml.safe_dump(table, sort_keys=False, default_flow_style=False)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text)
    say(f"exported version {data['version']} ({len(table['routes'])} routes) to {output}", stderr=True)


def check_table(spec: Any, services: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The proxy's own validation, offline: (routes, problems); one is empty."""
    from strangler_proxy.routing import RouteTable, TableError

    try:
        table = RouteTable.from_spec(spec, services)
    except TableError as exc:
        return [], list(exc.problems)
    return [r.to_spec() | {"key": r.key} for r in table.routes], []


def _default_services() -> list[str]:
    from local_stack.services import NEW_SERVICES

    return [spec.name for spec in NEW_SERVICES]


@routes_app.command(
    "validate",
    epilog=examples(
        "strangler routes validate routes.example.yaml",
        "strangler routes validate routes.yaml --service pricing --json",
    ),
)
def validate(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="YAML route table"),
    services: list[str] = typer.Option(
        [], "--service", help="A service the table may name (repeatable; default: the services this toolkit ships)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Check a route table offline, exactly as the proxy would (for CI).

    Exits 0 if the proxy would accept it, 5 (every problem listed) if not.
    """
    known = services or _default_services()
    routes: list[dict[str, Any]]
    problems: list[str]
    try:
        spec = yaml.safe_load(file.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        routes, problems = [], [f"not valid YAML: {exc}"]
    else:
        routes, problems = check_table(spec, known)
    if as_json:
        print_json(
            {"file": str(file), "valid": not problems, "services": known, "routes": routes, "problems": problems}
        )
    elif not problems:
        table = Table(title=Text(f"{file}: valid, {len(routes)} route(s)"))
        for col in ("route", "mode", "service", "weight"):
            table.add_column(col)
        for r in routes:
            table.add_row(
                *cells(r["key"], r["mode"], r.get("service"), r.get("weight") if r["mode"] == "canary" else None)
            )
        console.print(table)
    if problems:
        if not as_json:
            err.print(Text(f"{file}: refused", style="red"), highlight=False)
            for problem in problems:
                say(f"  - {problem}", stderr=True)
        raise typer.Exit(int(ExitCode.REFUSED))
