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
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit


class SettingsError(ValueError):
    """A required variable is missing or unusable; the message names it."""


def _require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is required")
    return value


def _int(env: Mapping[str, str], name: str, default: int | None, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        if default is None:
            raise SettingsError(f"{name} is required")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo:g} and {hi:g}, got {value:g}")
    return value


def _http_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "http" or not parts.hostname:
        raise SettingsError(f"{name} must be an http://host:port URL, got {value!r}")
    return value.rstrip("/")


@dataclass(frozen=True)
class ProxySettings:
    port: int
    legacy_url: str
    services: dict[str, str]
    control_database_url: str
    admin_token: str = field(repr=False)
    host: str = "127.0.0.1"
    workers: int = 1
    upstream_header: bool = True
    access_log: bool = False
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    max_body_bytes: int = 10 * 1024 * 1024
    shadow_max_body: int = 1024 * 1024
    shadow_max_inflight: int = 64
    metrics_dir: str | None = None
    identity_keys: str | None = None
    internal_token: str | None = field(default=None, repr=False)
    identity_ttl_s: float = 5.0
    identity_timeout_s: float = 2.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProxySettings:
        env = os.environ if env is None else env
        services_raw = env.get("STRANGLER_SERVICES", "{}") or "{}"
        try:
            services = json.loads(services_raw)
        except ValueError:
            raise SettingsError("STRANGLER_SERVICES must be a JSON object name -> base URL") from None
        if not isinstance(services, dict) or not all(isinstance(v, str) for v in services.values()):
            raise SettingsError("STRANGLER_SERVICES must be a JSON object name -> base URL")
        if "legacy" in services:
            raise SettingsError("STRANGLER_SERVICES must not define 'legacy' (use STRANGLER_LEGACY_URL)")
        control = _require(env, "STRANGLER_CONTROL_DATABASE_URL")
        if not control.startswith(("postgresql://", "postgres://", "host=", "dbname=")):
            raise SettingsError("STRANGLER_CONTROL_DATABASE_URL must be a PostgreSQL DSN")
        identity_keys = env.get("STRANGLER_IDENTITY_KEYS", "").strip() or None
        internal_token = env.get("STRANGLER_INTERNAL_TOKEN", "").strip() or None
        if (identity_keys is None) != (internal_token is None):
            missing = "STRANGLER_INTERNAL_TOKEN" if internal_token is None else "STRANGLER_IDENTITY_KEYS"
            raise SettingsError(f"{missing} is required with the other identity setting")
        return cls(
            host=env.get("STRANGLER_PROXY_HOST", "127.0.0.1") or "127.0.0.1",
            port=_int(env, "STRANGLER_PROXY_PORT", None, 1, 65535),
            workers=_int(env, "STRANGLER_PROXY_WORKERS", 1, 1, 64),
            legacy_url=_http_url("STRANGLER_LEGACY_URL", _require(env, "STRANGLER_LEGACY_URL")),
            services={k: _http_url(f"STRANGLER_SERVICES[{k}]", v) for k, v in services.items()},
            control_database_url=control,
            admin_token=_require(env, "STRANGLER_ADMIN_TOKEN"),
            upstream_header=_bool(env, "STRANGLER_UPSTREAM_HEADER", True),
            access_log=_bool(env, "STRANGLER_ACCESS_LOG", False),
            max_body_bytes=_int(env, "STRANGLER_MAX_BODY_BYTES", 10 * 1024 * 1024, 0, 1 << 40),
            max_header_bytes=_int(env, "STRANGLER_MAX_HEADER_BYTES", 16 * 1024, 1024, 1 << 20),
            metrics_dir=env.get("STRANGLER_METRICS_DIR") or None,
            identity_keys=identity_keys,
            internal_token=internal_token,
            identity_ttl_s=_float(env, "STRANGLER_IDENTITY_TTL_S", 5.0, 0.0, 30.0),
            identity_timeout_s=_float(env, "STRANGLER_IDENTITY_TIMEOUT_S", 2.0, 0.05, 60.0),
        )
