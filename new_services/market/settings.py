"""market's settings: the platform's, plus what its write side needs.

STRANGLER_MARKET_DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, STRANGLER_ADMIN_TOKEN,
STRANGLER_MARKET_HOST / _PORT (default 127.0.0.1:8011): see new_services.platform.settings
STRANGLER_LEGACY_URL             the monolith (its ``/_internal/`` API); required by ``serve``
STRANGLER_INTERNAL_TOKEN         ``X-Strangler-Service-Token`` of those calls; required by ``serve``
STRANGLER_IDENTITY_KEYS          the identity key file (``<state>/identity-keys.json``); required by ``serve``
STRANGLER_CONTROL_DATABASE_URL   the control database (``strangler_write_owners``); unset: the owner is legacy
STRANGLER_MARKET_TIME_ZONE       the monolith's wall clock (default Europe/Paris)
STRANGLER_MARKET_CATCH_UP_S      how long the first write after a flip waits for the projector (default 10)
STRANGLER_MARKET_RELAY           ``thread`` (default: the outbox relay runs inside ``serve``) or ``off``
STRANGLER_MARKET_CRASH_AFTER     fault injection for tests: SIGKILL right after this saga state is
                                 committed (one of ``domain.saga.STEPS``); unset in production
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from new_services.market.domain.saga import STEPS
from new_services.platform.settings import ServiceSettings, SettingsError, database_url

SERVICE = "market"
DEFAULT_PORT = 8011


def _optional(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


@dataclass(frozen=True)
class MarketSettings:
    service: ServiceSettings
    market_time_zone: str
    legacy_url: str | None
    internal_token: str | None
    identity_keys: Path | None
    control_database_url: str | None  # libpq form
    catch_up_s: float
    relay: str
    crash_after: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MarketSettings:
        env = os.environ if env is None else env
        zone = _optional(env, "STRANGLER_MARKET_TIME_ZONE") or "Europe/Paris"
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(f"STRANGLER_MARKET_TIME_ZONE: unknown time zone {zone!r}") from None
        control = _optional(env, "STRANGLER_CONTROL_DATABASE_URL")
        if control is not None:
            url = database_url(control)
            control = url.set(drivername="postgresql").render_as_string(hide_password=False)
        crash_after = _optional(env, "STRANGLER_MARKET_CRASH_AFTER")
        if crash_after is not None and crash_after not in STEPS:
            raise SettingsError(f"STRANGLER_MARKET_CRASH_AFTER must be one of {', '.join(STEPS)}")
        relay = _optional(env, "STRANGLER_MARKET_RELAY") or "thread"
        if relay not in ("thread", "off"):
            raise SettingsError("STRANGLER_MARKET_RELAY must be 'thread' or 'off'")
        try:
            catch_up_s = float(_optional(env, "STRANGLER_MARKET_CATCH_UP_S") or "10")
        except ValueError:
            raise SettingsError("STRANGLER_MARKET_CATCH_UP_S must be a number of seconds") from None
        keys = _optional(env, "STRANGLER_IDENTITY_KEYS")
        return cls(
            service=ServiceSettings.from_env(SERVICE, default_port=DEFAULT_PORT, env=env),
            market_time_zone=zone,
            legacy_url=_optional(env, "STRANGLER_LEGACY_URL"),
            internal_token=_optional(env, "STRANGLER_INTERNAL_TOKEN"),
            identity_keys=Path(keys) if keys else None,
            control_database_url=control,
            catch_up_s=catch_up_s,
            relay=relay,
            crash_after=crash_after,
        )

    def require_write_side(self) -> tuple[str, str, Path]:
        """(legacy URL, internal token, identity key file): ``serve`` needs all three."""
        missing = [
            name
            for name, value in (
                ("STRANGLER_LEGACY_URL", self.legacy_url),
                ("STRANGLER_INTERNAL_TOKEN", self.internal_token),
                ("STRANGLER_IDENTITY_KEYS", self.identity_keys),
            )
            if not value
        ]
        if missing:
            raise SettingsError(f"environment variable {missing[0]} is required")
        assert self.legacy_url and self.internal_token and self.identity_keys
        return self.legacy_url, self.internal_token, self.identity_keys
