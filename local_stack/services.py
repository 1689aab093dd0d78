"""The new services ``strangler up`` runs, and how.

Each is a package under ``new_services/`` with a command line
``python -m <module> migrate|serve|project`` (see
``new_services/pricing/__main__.py``): the launcher migrates its database,
starts its projector (events -> read model) and its HTTP app, and hands its
URL to the proxy. Add a service here to have it started.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    default_port: int

    @property
    def env_prefix(self) -> str:
        return f"STRANGLER_{self.name.upper()}_"

    @property
    def port_variable(self) -> str:
        return f"{self.env_prefix}PORT"

    @property
    def database_variable(self) -> str:
        return f"{self.env_prefix}DATABASE_URL"


NEW_SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("pricing", "new_services.pricing", 8010),
    ServiceSpec("market", "new_services.market", 8011),
)
