"""``strangler plan ...``: the migration plan, its gates and its steps.

The plan file is ``migration-plan.yaml`` (``--plan`` for another). The stack
is found as every command finds it: ``<state-dir>/endpoints.json`` and the
admin token (``--token``, ``STRANGLER_ADMIN_TOKEN`` or the state dir). TARGET
names an endpoint as ``context.name`` (``pricing.rate``) or by its route
(``"GET /api/items/{id}/rate/"``). Logic lives in ``migration_plan``; this
module parses options and prints.
"""

from __future__ import annotations

import getpass
import socket
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.table import Table
from rich.text import Text

from strangler_cli.exit_codes import ExitCode, for_http_status
from strangler_cli.output import cells, console, err, examples, fail, print_json, say
from strangler_cli.routes import TokenOpt, admin_token
from strangler_cli.state import JsonOpt, StateOpt, endpoints_or_none, read_endpoints

plan_app = typer.Typer(help="The migration plan: inventory, status, gated advance and rollback.", no_args_is_help=True)

PlanOpt = typer.Option(Path("migration-plan.yaml"), "--plan", help="The plan file.")
TargetArg = typer.Argument(..., help='An endpoint: context.name (pricing.rate) or "GET /api/items/{id}/rate/".')
ReasonOpt = typer.Option("", "--reason", help="Why (recorded in the audit log); required.")


def _actor() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def load(plan_file: Path) -> Any:
    """The plan, or exit 5 listing every problem with its line."""
    from migration_plan.plan_file import PlanError, load_plan

    try:
        return load_plan(plan_file)
    except OSError as exc:
        fail(f"cannot read the plan {plan_file}: {exc.strerror or exc}", ExitCode.USAGE)
    except PlanError as exc:
        err.print(Text(f"{plan_file}: invalid plan", style="red"), highlight=False)
        for problem in exc.problems:
            say(f"  {plan_file}:{problem.line}: {problem.message}", stderr=True)
        raise typer.Exit(int(ExitCode.REFUSED)) from None


def access(state_dir: Path, token: str | None) -> Any:
    """Where the running stack is (exit 3 when none runs)."""
    from migration_plan.engine import StackAccess

    return StackAccess.from_endpoints(read_endpoints(state_dir), admin_token(token, state_dir), state_dir)


def _stack_error(exc: Exception) -> NoReturn:
    """Turn the engine's errors into the CLI's messages and exit codes."""
    import httpx
    import psycopg

    from migration_plan.engine import AdminError, PlanRefused

    if isinstance(exc, PlanRefused):
        if exc.results:
            err.print(_gates_table([r.to_json() for r in exc.results], "gates of the current stage"))
        fail(str(exc), ExitCode.FAILURE)
    if isinstance(exc, AdminError):
        fail(f"the proxy refused: {exc}", for_http_status(exc.status))
    if isinstance(exc, httpx.HTTPError):
        fail(f"cannot reach the proxy: {exc}", ExitCode.UNREACHABLE)
    if isinstance(exc, psycopg.OperationalError):
        fail(f"cannot reach the control database: {str(exc).splitlines()[0]}", ExitCode.UNREACHABLE)
    if isinstance(exc, LookupError):
        fail(str(exc).strip("'\""), ExitCode.USAGE)
    raise exc


def _stack_call(call: Any, *args: Any, **kwargs: Any) -> Any:
    import httpx
    import psycopg

    from migration_plan.engine import AdminError, PlanRefused

    try:
        return call(*args, **kwargs)
    except (PlanRefused, AdminError, httpx.HTTPError, psycopg.OperationalError, LookupError) as exc:
        _stack_error(exc)


def _gates_table(gates: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    for col in ("gate", "figure", "threshold", "", "detail"):
        table.add_column(col)
    for g in gates:
        mark = Text("pass", style="green") if g["passed"] else Text("FAIL", style="red")
        table.add_row(*cells(g["gate"], _fmt(g["figure"]), _fmt(g["threshold"]), mark, g.get("detail") or ""))
    return table


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@plan_app.command("validate", epilog=examples("strangler plan validate", "strangler plan validate --plan other.yaml"))
def validate(plan_file: Path = PlanOpt, as_json: bool = JsonOpt) -> None:
    """Check the plan file offline; every problem is listed with its line (exit 5)."""
    plan = load(plan_file)
    if as_json:
        print_json({"plan": str(plan_file), "valid": True, "endpoints": [e.id for e in plan.endpoints]})
        return
    say(f"{plan_file}: valid, {len(plan.endpoints)} endpoint(s) in {len(plan.contexts)} context(s)")


@plan_app.command(
    "inventory",
    epilog=examples("strangler plan inventory", "strangler plan inventory --json", "strangler plan inventory --strict"),
)
def inventory(
    plan_file: Path = PlanOpt,
    state_dir: Path = StateOpt,
    token: str | None = TokenOpt,
    include_internal: bool = typer.Option(False, "--include-internal", help="List /_internal/ routes too."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 if an endpoint is missing from the plan."),
    as_json: bool = JsonOpt,
) -> None:
    """Every endpoint of the monolith's URLconf (admin excluded), its place in
    the plan and its live mode; flags endpoints the plan lacks. The live
    modes need a running stack; without one they show as legacy."""
    from migration_plan.inventory import DiscoveryError, build_inventory, discover_routes

    plan = load(plan_file)
    try:
        routes = discover_routes(include_internal=include_internal)
    except DiscoveryError as exc:
        fail(str(exc), ExitCode.FAILURE)
    live: list[dict[str, Any]] = []
    if endpoints_or_none(state_dir) is not None:
        from migration_plan.engine import Admin

        admin = Admin(access(state_dir, token), _actor())
        live = _stack_call(admin.call, "GET", "/_strangler/routes")["routes"]
    inv = build_inventory(routes, plan, live)
    data = inv.to_json() | {"live_table": bool(live) or endpoints_or_none(state_dir) is not None}
    if as_json:
        print_json(data)
    else:
        table = Table(title=f"monolith endpoints ({data['planned']} of {data['total']} in {plan_file})")
        for col in ("method", "path", "view", "plan", "service", "live mode"):
            table.add_column(col, overflow="fold")
        for r in inv.rows:
            planned: Text | str = r.planned or ("(HEAD follows GET)" if r.method == "HEAD" else "")
            if r.missing_from_plan:
                planned = Text("MISSING FROM PLAN", style="red")
            table.add_row(
                *cells(r.method, r.path, r.view.rsplit(".", 1)[-1], planned, r.service, r.live_mode or "legacy")
            )
        console.print(table)
        for stale in inv.unknown_in_plan:
            say(f"plan endpoint {stale} matches no route of the monolith", stderr=True, style="yellow")
    if strict and (inv.missing or inv.unknown_in_plan):
        raise typer.Exit(int(ExitCode.FAILURE))


@plan_app.command("status", epilog=examples("strangler plan status", "strangler plan status --json"))
def status(
    plan_file: Path = PlanOpt,
    state_dir: Path = StateOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Per context and endpoint: stage, the gates of that stage with figure
    and threshold; overall progress and the share of traffic new services
    served over the last hour. Gates needing parity run the parity check."""
    from migration_plan.engine import plan_status

    plan = load(plan_file)
    data = _stack_call(plan_status, plan, access(state_dir, token), actor=_actor())
    if as_json:
        print_json(data)
        return
    print_status(data)


def print_status(data: dict[str, Any]) -> None:
    """The status as people read it: one summary line, a table of endpoints,
    then each endpoint's gates with figure and threshold."""
    progress, traffic = data["progress"], data["progress"]["traffic"]
    share = "-" if traffic["share_new"] is None else f"{traffic['share_new']:.1%}"
    say(
        f"migrated {progress['migrated']} of {progress['planned']} planned endpoints "
        f"({progress['endpoints']} in the plan); new services served {share} of {traffic['requests']} requests "
        f"since {traffic['since'] or 'the proxy started'} (route table v{data['route_version']})"
    )
    table = Table(title="plan status")
    for col in ("endpoint", "route", "stage", "next", "gates"):
        table.add_column(col)
    for context in data["contexts"]:
        for e in context["endpoints"]:
            if e["gates_passed"] is None:
                gates: Text | str = "" if e["stage"] == "legacy" or not e["stages"] else "-"
            else:
                failed = [g["gate"] for g in e["gates"] if not g["passed"]]
                gates = Text("all pass", style="green") if not failed else Text("fail: " + ", ".join(failed), "red")
            table.add_row(*cells(e["id"], e["route"], e["stage"], e["next_stage"] or "-", gates))
    console.print(table)
    for context in data["contexts"]:
        for e in context["endpoints"]:
            if e["gates"]:
                window = e["window"]["since"] or e["window"]["from"]
                console.print(_gates_table(e["gates"], f"{e['id']} at {e['stage']} (figures since {window})"))


def _step_output(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(data)
        return
    forced = " (FORCED)" if data["forced"] else ""
    say(
        f"{data['direction']} {', '.join(data['moved'])}: {data['from_stage']} -> {data['to_stage']}{forced}, "
        f"route table v{data['previous']} -> v{data['version']}"
    )
    if data["gates"]:
        console.print(_gates_table(data["gates"], "gates at the step"))


@plan_app.command(
    "advance",
    epilog=examples(
        'strangler plan advance pricing.rate --reason "shadow clean for a day"',
        'strangler plan advance "GET /api/items/{id}/rate/" --reason "go" --json',
        'strangler plan advance pricing.rate --force --reason "gate figure is stale, checked by hand"',
    ),
)
def advance_cmd(
    target: str = TargetArg,
    reason: str = ReasonOpt,
    force: bool = typer.Option(False, "--force", help="Advance even if gates fail (recorded as forced)."),
    plan_file: Path = PlanOpt,
    state_dir: Path = StateOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Move an endpoint to its next stage, only if every gate of its current
    stage passes (exit 1 listing the gates otherwise). A context's write
    routes move together."""
    from migration_plan.engine import advance

    if not reason.strip():
        fail("--reason is required" + (" (and recorded with --force)" if force else ""), ExitCode.USAGE)
    plan = load(plan_file)
    data = _stack_call(advance, plan, access(state_dir, token), target, reason=reason, actor=_actor(), force=force)
    _step_output(data, as_json)


@plan_app.command(
    "rollback",
    epilog=examples(
        'strangler plan rollback pricing.rate --reason "p99 regressed"',
        'strangler plan rollback market.buy --reason "writes back to the monolith" --json',
    ),
)
def rollback_cmd(
    target: str = TargetArg,
    reason: str = ReasonOpt,
    plan_file: Path = PlanOpt,
    state_dir: Path = StateOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Move an endpoint one stage back (its first stage goes back to legacy)."""
    from migration_plan.engine import rollback

    if not reason.strip():
        fail("--reason is required", ExitCode.USAGE)
    plan = load(plan_file)
    data = _stack_call(rollback, plan, access(state_dir, token), target, reason=reason, actor=_actor())
    _step_output(data, as_json)


@plan_app.command("history", epilog=examples("strangler plan history", "strangler plan history --limit 5 --json"))
def history(
    limit: int = typer.Option(20, "--limit", min=1, max=500),
    state_dir: Path = StateOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The plan's steps, newest first: who, when, why, forced or not."""
    from migration_plan.control import ControlStore

    steps = _stack_call(ControlStore(access(state_dir, token).control_dsn).steps, limit)
    if as_json:
        print_json({"steps": steps})
        return
    table = Table(title="plan steps (newest first)")
    for col in ("when", "endpoint", "step", "route version", "who", "why"):
        table.add_column(col)
    for s in steps:
        step = f"{s['direction']} {s['from_stage']} -> {s['to_stage']}"
        text: Text | str = Text(step + " FORCED", style="red") if s["forced"] else step
        table.add_row(*cells(s["taken_at"][:19], s["endpoint"], text, s["route_version"], s["actor"], s["reason"]))
    console.print(table)
