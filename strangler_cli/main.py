"""Entry point of the ``strangler`` console script.

Each command group lives in its own module and is registered here; the
modules stay thin and call into the component packages. The root adds what
users of kubectl or gh expect: ``--version``, shell completion
(``--install-completion`` / ``--show-completion``), examples in every
command's help and documented exit codes (``strangler_cli.exit_codes``).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import typer

from strangler_cli.exit_codes import exit_codes_help
from strangler_cli.output import examples
from strangler_cli.up import up

DISTRIBUTION = "strangler-toolkit"

app = typer.Typer(
    name="strangler",
    help="Strangler-fig migration toolkit: proxy, CDC + anti-corruption layer, new services, plan.",
    epilog=exit_codes_help() + "\n\nEvery command has examples in its --help; tables for people, --json for scripts.",
    no_args_is_help=True,
    add_completion=True,
)


def package_version() -> str:
    """The installed distribution's version (``unknown`` when run from a bare checkout)."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"strangler {package_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Migrate the SMP monolith one endpoint at a time."""


app.command(
    "up", epilog=examples("strangler up", "strangler up --seed-sales 100000", "strangler up --state-dir /tmp/stack")
)(up)

from strangler_cli.logs import LOGS_EXAMPLES, logs  # noqa: E402
from strangler_cli.status import STATUS_EXAMPLES, status  # noqa: E402

app.command("status", epilog=STATUS_EXAMPLES)(status)
app.command("logs", epilog=LOGS_EXAMPLES)(logs)

from strangler_cli.dashboard import dashboard_app  # noqa: E402

app.add_typer(dashboard_app, name="dashboard")

from strangler_cli.routes import routes_app  # noqa: E402

app.add_typer(routes_app, name="routes")

from strangler_cli.acl import acl_app  # noqa: E402
from strangler_cli.cdc import cdc_app  # noqa: E402

app.add_typer(cdc_app, name="cdc")
app.add_typer(acl_app, name="acl")

from strangler_cli.services import services_app  # noqa: E402

app.add_typer(services_app, name="services")

from strangler_cli.identity import identity_app  # noqa: E402

app.add_typer(identity_app, name="identity")

from strangler_cli.parity import parity_app  # noqa: E402
from strangler_cli.plan import plan_app  # noqa: E402

app.add_typer(plan_app, name="plan")
app.add_typer(parity_app, name="parity")

from strangler_cli.bench import BENCH_EXAMPLES, bench  # noqa: E402

app.command("bench", epilog=BENCH_EXAMPLES)(bench)

from strangler_cli.demo import DEMO_EXAMPLES, demo  # noqa: E402

app.command("demo", epilog=DEMO_EXAMPLES)(demo)
