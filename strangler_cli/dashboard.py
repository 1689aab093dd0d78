"""``strangler dashboard serve``: the live migration dashboard (a web page).

Settings come from the environment (``strangler_dashboard.settings``: the
distributed deployment sets them); what the environment leaves out is found
the way every command finds a local stack: the admin API's URL in
``<state-dir>/endpoints.json`` (``proxy_admin``, else ``proxy``), the admin
token from ``STRANGLER_ADMIN_TOKEN`` or the state dir, the dashboard
password, the new services, the broker and the relay's status directory.
Options beat both. The token is a login secret and the key to the admin
API; it is never printed, logged or sent to a browser.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from strangler_cli.exit_codes import ExitCode
from strangler_cli.output import examples, fail, say
from strangler_cli.routes import admin_token
from strangler_cli.state import StateOpt, endpoints_or_none

dashboard_app = typer.Typer(help="The live migration dashboard (web page).", no_args_is_help=True)

#: The state dir's file with the dashboard's login password (``strangler up`` creates it, 0600).
PASSWORD_FILE = "dashboard-password"
#: The plan file ``strangler plan`` reads by default.
DEFAULT_PLAN = Path("migration-plan.yaml")


def from_state(state_dir: Path, environ: dict[str, str]) -> dict[str, Any]:
    """Settings the environment does not give, found in the state dir of a
    running ``strangler up`` (empty when there is none)."""
    from local_stack.services import NEW_SERVICES  # lazily: the CLI starts light (shell completion)

    endpoints = endpoints_or_none(state_dir) or {}
    found: dict[str, Any] = {}
    admin_url = endpoints.get("proxy_admin") or endpoints.get("proxy")
    if admin_url and not (environ.get("STRANGLER_PROXY_ADMIN_URL") or environ.get("STRANGLER_PROXY_URL")):
        found["proxy_admin_url"] = str(admin_url)
    if endpoints.get("services") and not environ.get("STRANGLER_SERVICES"):
        found["services"] = {str(k): str(v) for k, v in endpoints["services"].items()}
    if endpoints.get("kafka") and not environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        found["kafka_bootstrap"] = str(endpoints["kafka"])
    databases = endpoints.get("databases") or {}
    if databases.get("legacy") and not environ.get("STRANGLER_LEGACY_DATABASE_URL"):
        found["legacy_database_url"] = str(databases["legacy"])
    if databases.get("control") and not environ.get("STRANGLER_CONTROL_DATABASE_URL"):
        found["control_database_url"] = str(databases["control"])
    services = {k: str(v) for k, v in databases.items() if k not in ("legacy", "control")}
    if services and not any(environ.get(spec.database_variable) for spec in NEW_SERVICES):
        found["service_database_urls"] = services
    if (state_dir / "cdc").is_dir() and not environ.get("STRANGLER_CDC_STATE_DIR"):
        found["cdc_state_dir"] = state_dir / "cdc"
    password = state_dir / PASSWORD_FILE
    if not environ.get("STRANGLER_DASHBOARD_PASSWORD") and password.is_file():
        found["password"] = password.read_text().strip()
    return found


def default_plan(environ: dict[str, str], given: dict[str, Any]) -> bool:
    """Use ``migration-plan.yaml`` here (as ``strangler plan`` does) when no
    plan is named and the plan's records (the control database) are known;
    without them the board falls back to the proxy's routes."""
    control = environ.get("STRANGLER_CONTROL_DATABASE_URL") or given.get("control_database_url")
    return not environ.get("STRANGLER_PLAN_FILE") and bool(control) and DEFAULT_PLAN.is_file()


@dashboard_app.command(
    "serve",
    epilog=examples(
        "strangler dashboard serve",
        "strangler dashboard serve --port 8090 --plan migration-plan.yaml",
        "STRANGLER_PROXY_ADMIN_URL=http://127.0.0.1:9901 STRANGLER_ADMIN_TOKEN=... strangler dashboard serve --host 0.0.0.0",
    ),
)
def serve(
    state_dir: Path = StateOpt,
    host: str | None = typer.Option(None, "--host", help="Listen address (else STRANGLER_DASHBOARD_HOST, 127.0.0.1)."),
    port: int | None = typer.Option(None, "--port", help="Listen port (else STRANGLER_DASHBOARD_PORT, 8090)."),
    plan: Path | None = typer.Option(
        None,
        "--plan",
        help="The migration plan (else STRANGLER_PLAN_FILE, else ./migration-plan.yaml when the control database is known; none: the proxy's routes).",
    ),
    token: str | None = typer.Option(
        None, "--token", help="Admin token (else STRANGLER_ADMIN_TOKEN, else the state dir)."
    ),
) -> None:
    """Serve the dashboard until Ctrl-C: log in with the admin token or the dashboard password."""
    import uvicorn

    from strangler_dashboard.app import create_app
    from strangler_dashboard.settings import DashboardSettings, SettingsError

    environ = dict(os.environ)
    given = from_state(state_dir, environ)
    given["admin_token"] = admin_token(token, state_dir)
    if host:
        given["host"] = host
    if port:
        given["port"] = port
    if plan:
        given["plan_file"] = plan
    elif default_plan(environ, given):
        given["plan_file"] = DEFAULT_PLAN.resolve()
    try:
        settings = DashboardSettings.from_env(environ, **given)
    except SettingsError as exc:
        fail(f"{exc} (or run `strangler up`, whose state dir has it)", ExitCode.USAGE)
    say(f"dashboard on http://{settings.host}:{settings.port}/ (admin API {settings.admin_url})", stderr=True)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,  # a log line per poll says nothing; logins and steps are logged
        log_level=os.environ.get("STRANGLER_LOG_LEVEL", "info").lower(),
        timeout_graceful_shutdown=5,
    )
