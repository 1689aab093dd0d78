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
``STRANGLER_PROXY_PORT`` (8000), ``STRANGLER_LEGACY_PORT`` (8001),
``STRANGLER_POSTGRES_PORT`` (54329), ``STRANGLER_KAFKA_PORT`` (19092),
``STRANGLER_PRICING_PORT`` (8010; see ``local_stack.services``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from local_stack.services import NEW_SERVICES


class SettingsError(ValueError):
    """A variable is present but unusable; the message names it."""


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, str(default))
    try:
        port = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a port number, got {raw!r}") from None
    if not 1 <= port <= 65535:
        raise SettingsError(f"{name} must be between 1 and 65535, got {port}")
    return port


@dataclass(frozen=True)
class StackSettings:
    state_dir: Path
    seed_sales: int
    host: str
    proxy_port: int
    legacy_port: int
    postgres_port: int
    kafka_port: int
    legacy_workers: int
    external_legacy_database_url: str | None
    external_control_database_url: str | None
    external_kafka_bootstrap: str | None
    service_ports: dict[str, int]
    external_service_database_urls: dict[str, str]

    @classmethod
    def from_env(cls, *, state_dir: Path, seed_sales: int = 0, env: Mapping[str, str] | None = None) -> StackSettings:
        env = os.environ if env is None else env
        if seed_sales < 0:
            raise SettingsError(f"--seed-sales must be >= 0, got {seed_sales}")
        return cls(
            state_dir=Path(state_dir),
            seed_sales=seed_sales,
            host="127.0.0.1",
            proxy_port=_port(env, "STRANGLER_PROXY_PORT", 8000),
            legacy_port=_port(env, "STRANGLER_LEGACY_PORT", 8001),
            postgres_port=_port(env, "STRANGLER_POSTGRES_PORT", 54329),
            kafka_port=_port(env, "STRANGLER_KAFKA_PORT", 19092),
            legacy_workers=int(env.get("STRANGLER_LEGACY_WORKERS", "2")),
            external_legacy_database_url=env.get("STRANGLER_LEGACY_DATABASE_URL") or None,
            external_control_database_url=env.get("STRANGLER_CONTROL_DATABASE_URL") or None,
            external_kafka_bootstrap=env.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            service_ports={s.name: _port(env, s.port_variable, s.default_port) for s in NEW_SERVICES},
            external_service_database_urls={
                s.name: env[s.database_variable] for s in NEW_SERVICES if env.get(s.database_variable)
            },
        )

    def ports_to_claim(self) -> dict[str, int]:
        """The ports this launcher will listen on, by part name."""
        ports = {"proxy": self.proxy_port, "legacy": self.legacy_port, **self.service_ports}
        if self.needs_embedded_postgres:
            ports["postgres"] = self.postgres_port
        if self.external_kafka_bootstrap is None:
            ports["kafka"] = self.kafka_port
        return ports

    @property
    def needs_embedded_postgres(self) -> bool:
        return (
            self.external_legacy_database_url is None
            or self.external_control_database_url is None
            or len(self.external_service_database_urls) < len(NEW_SERVICES)
        )
