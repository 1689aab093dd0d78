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

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from new_services.market.domain.saga import STEPS
from new_services.platform.settings import ServiceSettings, SettingsError, WriteSideSettings, time_zone
from strangler_settings import env, number, one_of

__all__ = ["MarketSettings", "SettingsError"]

SERVICE = "market"
DEFAULT_PORT = 8011


@dataclass(frozen=True, kw_only=True)
class MarketSettings(WriteSideSettings):
    """The write side's four (legacy_url, internal_token, identity_keys,
    control_database_url) from :class:`WriteSideSettings`, plus:"""

    service: ServiceSettings
    market_time_zone: str = env("STRANGLER_MARKET_TIME_ZONE", time_zone, default="Europe/Paris")
    catch_up_s: float = env("STRANGLER_MARKET_CATCH_UP_S", number(0), default=10.0)
    relay: str = env("STRANGLER_MARKET_RELAY", one_of("thread", "off"), default="thread")
    crash_after: str | None = env("STRANGLER_MARKET_CRASH_AFTER", one_of(*STEPS), default=None)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MarketSettings:
        return cls.read_env(env, service=ServiceSettings.from_env(SERVICE, default_port=DEFAULT_PORT, env=env))

    def render_env(self) -> dict[str, str]:
        return {**self.service.render_env(), **super().render_env()}

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
