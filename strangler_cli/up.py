"""``strangler up``: the local stack in the foreground.

``local_stack`` (and psycopg with it) is imported when ``up`` runs, not when
the CLI starts: every other command, ``--version`` and each TAB of shell
completion start the program too, and should not pay for it.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from strangler_cli.exit_codes import ExitCode
from strangler_cli.output import cells

if TYPE_CHECKING:
    from local_stack.up import Endpoints

console = Console(stderr=True)


def _say(line: str) -> None:
    """One progress line; printed literally (it may hold paths and log text)."""
    console.print(Text("· ", style="dim") + Text(line), highlight=False, soft_wrap=True)


def _error(message: str) -> None:
    console.print(Text(message, style="red"), highlight=False, soft_wrap=True)


class _StopRequested(Exception):
    """SIGTERM/SIGINT arrived: leave the watch loop and stop the stack."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _StopRequested(signal.Signals(signum).name)


def _without_password(dsn: str) -> str:
    """A DSN fit to print: the password (kept in the state dir) replaced by ``***``."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _endpoints_table(endpoints: Endpoints, state_dir: Path) -> Table:
    table = Table(title="strangler stack is up", title_justify="left")
    table.add_column("part")
    table.add_column("address")
    rows: list[tuple[str, str]] = [
        ("proxy (use this)", endpoints.proxy),
        ("proxy admin API and metrics", f"{endpoints.proxy_admin}/_strangler/ (loopback only)"),
        ("legacy monolith", endpoints.legacy),
        ("legacy admin", f"{endpoints.legacy}/admin/ (user admin, password in {state_dir / 'admin-password'})"),
    ]
    rows += [(f"service {name}", url) for name, url in endpoints.services.items()]
    if endpoints.kafka:
        rows.append(("kafka", endpoints.kafka))
    if endpoints.dashboard:
        password = state_dir / "dashboard-password"
        rows.append(("dashboard (look here)", f"{endpoints.dashboard}/ (log in with the password in {password})"))
    rows += [(f"database {name}", _without_password(dsn)) for name, dsn in endpoints.databases.items()]
    rows += [
        ("endpoints file", str(state_dir / "endpoints.json")),
        ("proxy admin token", str(state_dir / "admin-token")),
    ]
    if (state_dir / "demo-token").exists():
        rows.append(("demo player API token", str(state_dir / "demo-token")))
    for part, address in rows:
        table.add_row(*cells(part, address))
    return table


def up(
    state_dir: Path = typer.Option(Path(".strangler"), "--state-dir", help="Where data, logs and endpoints.json live."),
    seed_sales: int = typer.Option(0, "--seed-sales", help="Seed the market with N sales if it is empty."),
) -> None:
    """Start the whole stack on embedded defaults and stay in the foreground.

    Ctrl-C or SIGTERM stops every process it started. Each part can be
    replaced by an existing server through environment variables
    (STRANGLER_LEGACY_DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, ...).
    """
    from local_stack.processes import ChildFailed
    from local_stack.settings import SettingsError, StackSettings
    from local_stack.state_dir import StateDirBusy
    from local_stack.up import LocalStack, StackError

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    began = time.monotonic()
    try:
        settings = StackSettings.from_env(state_dir=state_dir, seed_sales=seed_sales)
        stack = LocalStack(settings, say=_say)
        endpoints = stack.start()
    except (StackError, StateDirBusy, SettingsError, ChildFailed) as error:
        _error(f"strangler up: {error}")
        raise typer.Exit(int(ExitCode.FAILURE)) from None
    except _StopRequested:
        console.print(Text("stopped while starting", style="yellow"))
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None

    console.print(_endpoints_table(endpoints, stack.state.path))
    console.print(Text(f"ready in {time.monotonic() - began:.1f}s — Ctrl-C to stop"))
    exit_code = 0
    try:
        stack.watch()
    except _StopRequested as why:
        console.print(Text(f"{why}: stopping"))
    except ChildFailed as error:
        _error(f"strangler up: {error}")
        exit_code = int(ExitCode.FAILURE)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
    console.print("stopped")
    raise typer.Exit(exit_code)
