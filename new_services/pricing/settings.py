"""pricing's settings: the platform's, plus the market's wall-clock zone.

STRANGLER_PRICING_DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, STRANGLER_ADMIN_TOKEN,
STRANGLER_PRICING_HOST / _PORT (default 127.0.0.1:8010): see new_services.platform.settings
STRANGLER_MARKET_TIME_ZONE   the wall clock the market quotes in (default Europe/Paris)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from new_services.platform.settings import ServiceSettings, SettingsError, time_zone
from strangler_settings import EnvSettings, env

__all__ = ["PricingSettings", "SettingsError"]

SERVICE = "pricing"
DEFAULT_PORT = 8010


@dataclass(frozen=True)
class PricingSettings(EnvSettings):
    service: ServiceSettings
    market_time_zone: str = env("STRANGLER_MARKET_TIME_ZONE", time_zone, default="Europe/Paris")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PricingSettings:
        return cls.read_env(env, service=ServiceSettings.from_env(SERVICE, default_port=DEFAULT_PORT, env=env))

    def render_env(self) -> dict[str, str]:
        return {**self.service.render_env(), **super().render_env()}
