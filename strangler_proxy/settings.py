"""Typed settings of one proxy process, read once from the environment.

Required: ``STRANGLER_PROXY_PORT``, ``STRANGLER_LEGACY_URL``,
``STRANGLER_CONTROL_DATABASE_URL``, ``STRANGLER_ADMIN_TOKEN``. A missing or
malformed value raises ``SettingsError`` naming the variable; the token's
value is never part of any message or log.

Identity continuity (``identity.py``) needs both ``STRANGLER_IDENTITY_KEYS``
(the key file) and ``STRANGLER_INTERNAL_TOKEN`` (the monolith's internal
API); one without the other is an error. Without them the proxy still
strips client-sent identity headers but forwards none (new services then see
anonymous callers). ``STRANGLER_IDENTITY_TTL_S`` (default 5, at most 30)
bounds how long a resolved token is reused, so a revoked token is refused
within that time; ``STRANGLER_IDENTITY_TIMEOUT_S`` (default 2) bounds a
lookup.

The admin API and metrics listen on ``STRANGLER_PROXY_ADMIN_HOST``
(default 127.0.0.1: never public unless asked) and
``STRANGLER_PROXY_ADMIN_PORT`` (default 9901, Envoy's admin port); a
compose network sets the host to the container's address. Failed admin
token attempts: ``STRANGLER_ADMIN_AUTH_BURST`` (default 10) per client
address, one more every ``STRANGLER_ADMIN_AUTH_REFILL_S`` (default 6) s.

Front-door deadlines and caps (slowloris; ``server.ServerLimits``):
``STRANGLER_HEADER_TIMEOUT_S`` (default 10, nginx's client_header_timeout
range and Envoy's edge guide), ``STRANGLER_BODY_TIMEOUT_S`` (60: the whole
body, counted from the end of the head), ``STRANGLER_KEEPALIVE_TIMEOUT_S``
(60: an idle keep-alive connection is closed) and
``STRANGLER_MAX_CONNECTIONS`` (1024 open client connections per worker
process; one more is answered 503).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from strangler_settings import (
    EnvSettings,
    SettingsError,
    boolean,
    env,
    http_url,
    integer,
    json_object,
    number,
    port,
    postgres_url,
)
from strangler_settings import port as tcp_port  # the class body's ``port`` field shadows the parser
from strangler_settings.fields import render_boolean, render_json

__all__ = ["ProxySettings", "SettingsError"]


def _services(raw: str) -> dict[str, str]:
    """``STRANGLER_SERVICES``: a JSON object service name -> base URL."""
    services: dict[str, Any] = json_object(raw)
    if not all(isinstance(v, str) for v in services.values()):
        raise ValueError("must be a JSON object name -> base URL")
    if "legacy" in services:
        raise ValueError("must not define 'legacy' (use STRANGLER_LEGACY_URL)")
    checked = {}
    for name, url in services.items():
        try:
            checked[name] = http_url(url)
        except ValueError as exc:
            raise ValueError(f"[{name}] {exc}") from None
    return checked


def _control_database(raw: str) -> str:
    return str(postgres_url(raw))


@dataclass(frozen=True)
class ProxySettings(EnvSettings):
    port: int = env("STRANGLER_PROXY_PORT", port)
    legacy_url: str = env("STRANGLER_LEGACY_URL", http_url)
    control_database_url: str = env("STRANGLER_CONTROL_DATABASE_URL", _control_database, secret=True)
    admin_token: str = env("STRANGLER_ADMIN_TOKEN", secret=True)
    services: dict[str, str] = env("STRANGLER_SERVICES", _services, default={}, render=render_json)
    host: str = env("STRANGLER_PROXY_HOST", default="127.0.0.1")
    workers: int = env("STRANGLER_PROXY_WORKERS", integer(1, 64), default=1)
    upstream_header: bool = env("STRANGLER_UPSTREAM_HEADER", boolean, default=True, render=render_boolean)
    access_log: bool = env("STRANGLER_ACCESS_LOG", boolean, default=False, render=render_boolean)
    max_header_bytes: int = env("STRANGLER_MAX_HEADER_BYTES", integer(1024, 1 << 20), default=16 * 1024)
    max_headers: int = 100
    max_body_bytes: int = env("STRANGLER_MAX_BODY_BYTES", integer(0, 1 << 40), default=10 * 1024 * 1024)
    shadow_max_body: int = 1024 * 1024
    shadow_max_inflight: int = 64
    metrics_dir: str | None = env("STRANGLER_METRICS_DIR", default=None)
    identity_keys: str | None = env("STRANGLER_IDENTITY_KEYS", default=None)
    internal_token: str | None = env("STRANGLER_INTERNAL_TOKEN", default=None, secret=True)
    identity_ttl_s: float = env("STRANGLER_IDENTITY_TTL_S", number(0.0, 30.0), default=5.0)
    identity_timeout_s: float = env("STRANGLER_IDENTITY_TIMEOUT_S", number(0.05, 60.0), default=2.0)
    admin_host: str = env("STRANGLER_PROXY_ADMIN_HOST", default="127.0.0.1")
    admin_port: int = env("STRANGLER_PROXY_ADMIN_PORT", tcp_port, default=9901)
    admin_auth_burst: int = env("STRANGLER_ADMIN_AUTH_BURST", integer(1, 10_000), default=10)
    admin_auth_refill_s: float = env("STRANGLER_ADMIN_AUTH_REFILL_S", number(0.001, 3600.0), default=6.0)
    header_timeout_s: float = env("STRANGLER_HEADER_TIMEOUT_S", number(0.05, 600.0), default=10.0)
    body_timeout_s: float = env("STRANGLER_BODY_TIMEOUT_S", number(0.05, 3600.0), default=60.0)
    keepalive_timeout_s: float = env("STRANGLER_KEEPALIVE_TIMEOUT_S", number(0.05, 3600.0), default=60.0)
    max_connections: int = env("STRANGLER_MAX_CONNECTIONS", integer(1, 1_000_000), default=1024)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProxySettings:
        settings = cls.read_env(env)
        if (settings.admin_host, settings.admin_port) == (settings.host, settings.port):
            raise SettingsError("STRANGLER_PROXY_ADMIN_PORT must differ from STRANGLER_PROXY_PORT")
        if (settings.identity_keys is None) != (settings.internal_token is None):
            missing = "STRANGLER_INTERNAL_TOKEN" if settings.internal_token is None else "STRANGLER_IDENTITY_KEYS"
            raise SettingsError(f"{missing} is required with the other identity setting")
        return settings
