"""Settings of one dashboard process, read once from the environment.

=================================  ==============================================
``STRANGLER_PROXY_ADMIN_URL``      the proxy's admin API (else ``STRANGLER_PROXY_URL``)
``STRANGLER_ADMIN_TOKEN``          its bearer token; also a dashboard login (secret)
``STRANGLER_DASHBOARD_PASSWORD``   another login secret (``strangler up`` keeps one
                                   in ``<state-dir>/dashboard-password``)
``STRANGLER_DASHBOARD_HOST/PORT``  where to listen (127.0.0.1:8090)
``STRANGLER_SERVICES``             JSON name -> URL of the new services (their /readyz lag)
``KAFKA_BOOTSTRAP_SERVERS``        the broker (DLQ size, consumer group lag)
``STRANGLER_CDC_STATE_DIR``        the relay's status directory (per-table lag)
``STRANGLER_LEGACY_DATABASE_URL``  the monolith's database (replication slot's retained WAL)
``STRANGLER_CONTROL_DATABASE_URL`` the route store (the plan's step records)
``STRANGLER_PLAN_FILE``            the migration plan; without it the board is the proxy's routes
``STRANGLER_<SERVICE>_DATABASE_URL`` each new service's database (the plan's parity gates)
``STRANGLER_DASHBOARD_SAMPLE_S``   seconds between two samples of the proxy's metrics (2)
=================================  ==============================================

Every part but the admin API is optional: what is not configured shows as
"not configured" on the page rather than stopping the dashboard.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_stack.services import NEW_SERVICES
from strangler_settings import EnvSettings, SettingsError, env, http_url, json_object, number, port, read
from strangler_settings.fields import render_json

__all__ = ["DashboardSettings", "SettingsError"]


def _services(raw: str) -> dict[str, str]:
    services: dict[str, Any] = json_object(raw)
    return {str(name): http_url(str(url)) for name, url in services.items()}


@dataclass(frozen=True)
class DashboardSettings(EnvSettings):
    admin_token: str = env("STRANGLER_ADMIN_TOKEN", secret=True)
    proxy_admin_url: str | None = env("STRANGLER_PROXY_ADMIN_URL", http_url, default=None)
    proxy_url: str | None = env("STRANGLER_PROXY_URL", http_url, default=None)
    password: str | None = env("STRANGLER_DASHBOARD_PASSWORD", default=None, secret=True)
    host: str = env("STRANGLER_DASHBOARD_HOST", default="127.0.0.1")
    port: int = env("STRANGLER_DASHBOARD_PORT", port, default=8090)
    services: dict[str, str] = env("STRANGLER_SERVICES", _services, default={}, render=render_json)
    kafka_bootstrap: str | None = env("KAFKA_BOOTSTRAP_SERVERS", default=None)
    acl_group: str = env("STRANGLER_ACL_GROUP", default="strangler-acl")
    cdc_state_dir: Path | None = env("STRANGLER_CDC_STATE_DIR", Path, default=None)
    legacy_database_url: str | None = env("STRANGLER_LEGACY_DATABASE_URL", default=None, secret=True)
    control_database_url: str | None = env("STRANGLER_CONTROL_DATABASE_URL", default=None, secret=True)
    plan_file: Path | None = env("STRANGLER_PLAN_FILE", Path, default=None)
    sample_s: float = env("STRANGLER_DASHBOARD_SAMPLE_S", number(0.2, 60.0), default=2.0)
    #: Each new service's database (``STRANGLER_<SERVICE>_DATABASE_URL``): the plan's parity gates read them.
    service_database_urls: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **given: Any) -> DashboardSettings:
        if "service_database_urls" not in given:
            urls: dict[str, str | None] = {
                s.name: read(s.database_variable, default=None, secret=True, environ=env) for s in NEW_SERVICES
            }
            given["service_database_urls"] = {name: url for name, url in urls.items() if url}
        settings = cls.read_env(env, **given)
        if not settings.admin_url:
            raise SettingsError("STRANGLER_PROXY_ADMIN_URL (or STRANGLER_PROXY_URL) is required")
        return settings

    def render_env(self) -> dict[str, str]:
        rendered = super().render_env()
        for spec in NEW_SERVICES:
            if spec.name in self.service_database_urls:
                rendered[spec.database_variable] = str(self.service_database_urls[spec.name])
        return rendered

    @property
    def admin_url(self) -> str:
        """The admin API's base URL: the admin listener's when known."""
        return (self.proxy_admin_url or self.proxy_url or "").rstrip("/")
