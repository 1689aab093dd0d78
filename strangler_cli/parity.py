"""``strangler parity check CONTEXT``: legacy tables against a service's store.

The databases come from ``<state-dir>/endpoints.json`` (``databases.legacy``
and ``databases.<context>``), or ``--legacy-db`` / ``--service-db``. The
check itself is ``migration_plan.parity`` (legacy rows through the ACL's
translators, the service's store summarised in SQL, merged by aggregate).
Exit 0 in parity, 1 when something differs.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from strangler_cli.exit_codes import ExitCode
from strangler_cli.output import cells, console, examples, fail, print_json, say
from strangler_cli.state import JsonOpt, StateOpt, endpoints_or_none

parity_app = typer.Typer(
    help="Data parity between the monolith's tables and a new service's store.", no_args_is_help=True
)


@parity_app.command(
    "check",
    epilog=examples("strangler parity check pricing", "strangler parity check market --json --limit 200"),
)
def check(
    context: str = typer.Argument(..., help="pricing or market"),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="Differing aggregates listed in full."),
    deadline: float = typer.Option(600.0, "--deadline", min=1.0, help="Give up after this many seconds."),
    legacy_db: str | None = typer.Option(None, "--legacy-db", help="Legacy PostgreSQL URL (else the state dir)."),
    service_db: str | None = typer.Option(
        None, "--service-db", help="The service's PostgreSQL URL (else the state dir)."
    ),
    state_dir: Path = StateOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Counts and per-aggregate checksums on both sides; lists the aggregates that differ."""
    from migration_plan.parity import ParityError, check_parity, context_parity

    try:
        spec = context_parity(context)
    except LookupError as exc:
        fail(str(exc).strip("\"'"), ExitCode.USAGE)
    databases = (endpoints_or_none(state_dir) or {}).get("databases") or {}
    legacy, service = legacy_db or databases.get("legacy"), service_db or databases.get(context)
    if not legacy or not service:
        fail(
            f"no database for legacy or {context}: run `strangler up` or pass --legacy-db/--service-db",
            ExitCode.UNREACHABLE,
        )
    try:
        report = check_parity(spec, legacy, service, max_listed=limit, deadline_s=deadline)
    except ParityError as exc:
        fail(str(exc), ExitCode.FAILURE)
    data = report.to_json()
    if as_json:
        print_json(data)
    else:
        counts = Table(title=f"{context}: counts")
        for col in ("", "legacy", context):
            counts.add_column(col)
        for key in data["counts"]["legacy"]:
            counts.add_row(*cells(key, data["counts"]["legacy"][key], data["counts"]["service"].get(key)))
        console.print(counts)
        verdict = "in parity" if report.in_parity else f"{report.differing} {report.aggregate}(s) differ"
        say(
            f"{report.compared} {report.aggregate}s compared in {report.elapsed_s:.1f} s: {verdict}"
            f" (only in legacy {report.only_legacy}, only in {context} {report.only_service})",
            style="green" if report.in_parity else "red",
        )
        if data["differences"]:
            table = Table(title=f"differing {report.aggregate}s (first {len(data['differences'])})")
            for col in (report.aggregate, "differs in", "legacy", context):
                table.add_column(col)
            for d in data["differences"]:
                table.add_row(
                    *cells(
                        d[report.aggregate],
                        ", ".join(d["differs_in"]),
                        _side(d["legacy"], spec.child),
                        _side(d["service"], spec.child),
                    )
                )
            console.print(table)
    if not report.in_parity:
        raise typer.Exit(int(ExitCode.FAILURE))


def _side(side: dict[str, object], child: str) -> str:
    root = side["root"]
    fields = ", ".join(f"{k}={v}" for k, v in root.items()) if isinstance(root, dict) else "(none)"
    return f"{fields}; {side['children']} {child}, checksum {side['checksum']}"
