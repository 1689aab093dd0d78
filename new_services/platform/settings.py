"""One typed settings object per service process, read once from the
environment; a missing or malformed value fails loudly, naming the variable.

Variables (``NAME`` is the service name upper-cased, e.g. ``PRICING``):

    STRANGLER_<NAME>_DATABASE_URL   the service's own database (postgresql://...; query
                                    parameters such as sslmode are kept)
    KAFKA_BOOTSTRAP_SERVERS         broker(s) (the projector only)
    STRANGLER_<NAME>_HOST / _PORT   where the HTTP app listens (default 127.0.0.1 / per service)
    STRANGLER_ADMIN_TOKEN           bearer token of the service's admin routes (rebuild)
    STRANGLER_<NAME>_READY_MAX_LAG  events behind the stream still counted as caught up (default 100)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError


class SettingsError(RuntimeError):
    """A required environment variable is missing or malformed."""


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is required")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None


def database_url(name: str, raw: str) -> URL:
    """``postgresql://...`` as a SQLAlchemy URL on the psycopg 3 driver,
    query parameters (``sslmode``...) intact."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise SettingsError(f"{name} is not a database URL") from None
    if url.get_backend_name() != "postgresql":
        raise SettingsError(f"{name} must be a postgresql:// URL, got {url.drivername!r}")
    return url.set(drivername="postgresql+psycopg")


@dataclass(frozen=True)
class ServiceSettings:
    """Settings of one new service (its API process and its projector)."""

    service: str
    database_url: URL
    host: str
    port: int
    bootstrap_servers: str | None
    admin_token: str | None
    ready_max_lag: int

    @classmethod
    def from_env(cls, service: str, *, default_port: int, env: Mapping[str, str] | None = None) -> ServiceSettings:
        env = os.environ if env is None else env
        prefix = f"STRANGLER_{service.upper()}_"
        return cls(
            service=service,
            database_url=database_url(f"{prefix}DATABASE_URL", _required(env, f"{prefix}DATABASE_URL")),
            host=env.get(f"{prefix}HOST", "").strip() or "127.0.0.1",
            port=_int(env, f"{prefix}PORT", default_port),
            bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip() or None,
            admin_token=env.get("STRANGLER_ADMIN_TOKEN", "").strip() or None,
            ready_max_lag=_int(env, f"{prefix}READY_MAX_LAG", 100),
        )

    @property
    def libpq_dsn(self) -> str:
        """The database URL for psycopg itself (password and query kept)."""
        return self.database_url.set(drivername="postgresql").render_as_string(hide_password=False)

    def require_kafka(self) -> str:
        if not self.bootstrap_servers:
            raise SettingsError("environment variable KAFKA_BOOTSTRAP_SERVERS is required")
        return self.bootstrap_servers

    def require_admin_token(self) -> str:
        if not self.admin_token:
            raise SettingsError("environment variable STRANGLER_ADMIN_TOKEN is required (admin routes need a token)")
        return self.admin_token
