"""Settings of ``strangler up``, read once from the environment.

Every part runs embedded by default; an environment variable naming an
existing server replaces that part (the launcher then neither starts nor
stops it):

=================================  ==========================================
``STRANGLER_LEGACY_DATABASE_URL``  use this PostgreSQL for the monolith
``STRANGLER_CONTROL_DATABASE_URL`` use this PostgreSQL for the route store
``KAFKA_BOOTSTRAP_SERVERS``        use this Kafka instead of the embedded one
``STRANGLER_PRICING_DATABASE_URL`` use this PostgreSQL for pricing (likewise
                                   ``STRANGLER_<SERVICE>_DATABASE_URL``)
=================================  ==========================================

Ports of the parts the launcher starts (all on 127.0.0.1):
``STRANGLER_PROXY_PORT`` (8000), ``STRANGLER_PROXY_ADMIN_PORT`` (9901: the
proxy's admin API and metrics, a listener of their own),
``STRANGLER_LEGACY_PORT`` (8001),
``STRANGLER_POSTGRES_PORT`` (54329), ``STRANGLER_KAFKA_PORT`` (19092),
``STRANGLER_DASHBOARD_PORT`` (8090),
``STRANGLER_PRICING_PORT`` (8010; see ``local_stack.services``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from local_stack.services import NEW_SERVICES
from strangler_settings import EnvSettings, SettingsError, env, integer, port, postgres_url, read

__all__ = ["SettingsError", "StackSettings"]


def _database(raw: str) -> str:
    return str(postgres_url(raw))


@dataclass(frozen=True)
class StackSettings(EnvSettings):
    state_dir: Path
    seed_sales: int
    host: str = "127.0.0.1"
    proxy_port: int = env("STRANGLER_PROXY_PORT", port, default=8000)
    proxy_admin_port: int = env("STRANGLER_PROXY_ADMIN_PORT", port, default=9901)
    legacy_port: int = env("STRANGLER_LEGACY_PORT", port, default=8001)
    postgres_port: int = env("STRANGLER_POSTGRES_PORT", port, default=54329)
    kafka_port: int = env("STRANGLER_KAFKA_PORT", port, default=19092)
    dashboard_port: int = env("STRANGLER_DASHBOARD_PORT", port, default=8090)
    legacy_workers: int = env("STRANGLER_LEGACY_WORKERS", integer(1, 64), default=2)
    external_legacy_database_url: str | None = env(
        "STRANGLER_LEGACY_DATABASE_URL", _database, default=None, secret=True
    )
    external_control_database_url: str | None = env(
        "STRANGLER_CONTROL_DATABASE_URL", _database, default=None, secret=True
    )
    external_kafka_bootstrap: str | None = env("KAFKA_BOOTSTRAP_SERVERS", default=None)
    #: Per new service (``STRANGLER_<SERVICE>_PORT`` / ``_DATABASE_URL``, see ``local_stack.services``).
    service_ports: dict[str, int] = field(default_factory=dict)
    external_service_database_urls: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, *, state_dir: Path, seed_sales: int = 0, env: Mapping[str, str] | None = None) -> StackSettings:
        if seed_sales < 0:
            raise SettingsError(f"--seed-sales must be >= 0, got {seed_sales}")
        service_ports = {s.name: read(s.port_variable, port, default=s.default_port, environ=env) for s in NEW_SERVICES}
        databases = {s.name: read(s.database_variable, _database, default=None, environ=env) for s in NEW_SERVICES}
        return cls.read_env(
            env,
            state_dir=Path(state_dir),
            seed_sales=seed_sales,
            service_ports=service_ports,
            external_service_database_urls={name: url for name, url in databases.items() if url},
        )

    def render_env(self) -> dict[str, str]:
        rendered = super().render_env()
        for spec in NEW_SERVICES:
            rendered[spec.port_variable] = str(self.service_ports[spec.name])
            if spec.name in self.external_service_database_urls:
                rendered[spec.database_variable] = self.external_service_database_urls[spec.name]
        return rendered

    def ports_to_claim(self) -> dict[str, int]:
        """The ports this launcher will listen on, by part name."""
        ports = {
            "proxy": self.proxy_port,
            "proxy_admin": self.proxy_admin_port,
            "legacy": self.legacy_port,
            **self.service_ports,
        }
        if self.needs_embedded_postgres:
            ports["postgres"] = self.postgres_port
        if self.external_kafka_bootstrap is None:
            ports["kafka"] = self.kafka_port
        ports["dashboard"] = self.dashboard_port
        return ports

    @property
    def needs_embedded_postgres(self) -> bool:
        return (
            self.external_legacy_database_url is None
            or self.external_control_database_url is None
            or len(self.external_service_database_urls) < len(NEW_SERVICES)
        )
