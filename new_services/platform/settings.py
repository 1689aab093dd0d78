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

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import URL

from strangler_settings import EnvSettings, SettingsError, env, http_url, integer, port, postgres_url, read

__all__ = ["ServiceSettings", "SettingsError", "WriteSideSettings", "database_url", "time_zone"]


def time_zone(raw: str) -> str:
    """An IANA time zone name (``Europe/Paris``), checked by zoneinfo."""
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {raw!r}") from None
    return raw


def database_url(raw: str) -> URL:
    """``postgresql://...`` (or a libpq DSN) as a SQLAlchemy URL on the
    psycopg 3 driver, query parameters (``sslmode``...) intact."""
    db = postgres_url(raw)
    return URL.create(
        "postgresql+psycopg",
        username=db.params.get("user"),
        password=db.params.get("password"),
        host=db.params.get("host"),
        port=int(db.params["port"]) if db.params.get("port") else None,
        database=db.params.get("dbname"),
        query=db.options,
    )


def _libpq(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class ServiceSettings(EnvSettings):
    """Settings of one new service (its API process and its projector)."""

    service: str
    database_url: URL = env("STRANGLER_{SERVICE}_DATABASE_URL", database_url, render=_libpq)
    port: int = env("STRANGLER_{SERVICE}_PORT", port)
    host: str = env("STRANGLER_{SERVICE}_HOST", default="127.0.0.1")
    bootstrap_servers: str | None = env("KAFKA_BOOTSTRAP_SERVERS", default=None)
    admin_token: str | None = env("STRANGLER_ADMIN_TOKEN", default=None, secret=True)
    ready_max_lag: int = env("STRANGLER_{SERVICE}_READY_MAX_LAG", integer(0), default=100)

    @classmethod
    def from_env(cls, service: str, *, default_port: int, env: Mapping[str, str] | None = None) -> ServiceSettings:
        context = {"SERVICE": service.upper()}
        listen = read(f"STRANGLER_{service.upper()}_PORT", port, default=default_port, environ=env)
        return cls.read_env(env, context=context, service=service, port=listen)

    def env_context(self) -> dict[str, str]:
        return {"SERVICE": self.service.upper()}

    @property
    def libpq_dsn(self) -> str:
        """The database URL for psycopg itself (password and query kept)."""
        return _libpq(self.database_url)

    def require_kafka(self) -> str:
        if not self.bootstrap_servers:
            raise SettingsError("KAFKA_BOOTSTRAP_SERVERS is required")
        return self.bootstrap_servers

    def require_admin_token(self) -> str:
        if not self.admin_token:
            raise SettingsError("STRANGLER_ADMIN_TOKEN is required (admin routes need a token)")
        return self.admin_token


def _libpq_database(raw: str) -> str:
    """A PostgreSQL URL or DSN, checked by libpq's parser, kept as given (for psycopg)."""
    return str(postgres_url(raw))


@dataclass(frozen=True)
class WriteSideSettings(EnvSettings):
    """What a service that writes through the monolith needs
    (docs/market-write-side.md); every part optional here, required by the
    service that uses it:

    STRANGLER_LEGACY_URL             the monolith (its ``/_internal/`` API)
    STRANGLER_INTERNAL_TOKEN         ``X-Strangler-Service-Token`` of those calls
    STRANGLER_IDENTITY_KEYS          the identity key file (``<state>/identity-keys.json``)
    STRANGLER_CONTROL_DATABASE_URL   the control database (``strangler_write_owners``)
    """

    legacy_url: str | None = env("STRANGLER_LEGACY_URL", http_url, default=None)
    internal_token: str | None = env("STRANGLER_INTERNAL_TOKEN", default=None, secret=True)
    identity_keys: Path | None = env("STRANGLER_IDENTITY_KEYS", Path, default=None)
    control_database_url: str | None = env("STRANGLER_CONTROL_DATABASE_URL", _libpq_database, default=None, secret=True)
