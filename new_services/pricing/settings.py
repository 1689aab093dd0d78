"""pricing's settings: the platform's, plus the market's wall-clock zone.

STRANGLER_PRICING_DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, STRANGLER_ADMIN_TOKEN,
STRANGLER_PRICING_HOST / _PORT (default 127.0.0.1:8010): see new_services.platform.settings
STRANGLER_MARKET_TIME_ZONE   the wall clock the market quotes in (default Europe/Paris)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from new_services.platform.settings import ServiceSettings, SettingsError

SERVICE = "pricing"
DEFAULT_PORT = 8010


@dataclass(frozen=True)
class PricingSettings:
    service: ServiceSettings
    market_time_zone: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PricingSettings:
        env = os.environ if env is None else env
        zone = env.get("STRANGLER_MARKET_TIME_ZONE", "").strip() or "Europe/Paris"
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(f"STRANGLER_MARKET_TIME_ZONE: unknown time zone {zone!r}") from None
        return cls(ServiceSettings.from_env(SERVICE, default_port=DEFAULT_PORT, env=env), zone)
