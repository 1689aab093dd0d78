"""Entry point of the ``strangler`` console script.

Each command group lives in its own module and is registered here; the
modules stay thin and call into the component packages.
"""

from __future__ import annotations

import typer

from strangler_cli.up import up

app = typer.Typer(
    name="strangler",
    help="Strangler-fig migration toolkit: proxy, CDC + anti-corruption layer, new services, plan.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Migrate the SMP monolith one endpoint at a time."""


app.command("up")(up)

from strangler_cli.routes import routes_app  # noqa: E402

app.add_typer(routes_app, name="routes")

from strangler_cli.cdc import cdc_app  # noqa: E402
from strangler_cli.acl import acl_app  # noqa: E402

app.add_typer(cdc_app, name="cdc")
app.add_typer(acl_app, name="acl")

from strangler_cli.services import services_app  # noqa: E402

app.add_typer(services_app, name="services")
