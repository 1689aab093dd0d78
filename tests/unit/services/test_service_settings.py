"""A service's settings: read once, loud about what is missing, and the
database URL kept whole (query parameters such as sslmode survive)."""

from __future__ import annotations

import pytest

from new_services.platform.settings import ServiceSettings, SettingsError
from new_services.pricing.settings import PricingSettings


def test_the_database_url_keeps_its_query_parameters_and_uses_psycopg() -> None:
    settings = ServiceSettings.from_env(
        "pricing",
        default_port=8010,
        env={
            "STRANGLER_PRICING_DATABASE_URL": "postgresql://pricing:s%40cret@db.internal:6432/pricing?sslmode=require",
        },
    )
    url = settings.database_url
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "pricing",
        "s@cret",
        "db.internal",
        6432,
        "pricing",
    )
    assert url.query == {"sslmode": "require"}
    assert (settings.host, settings.port, settings.ready_max_lag) == ("127.0.0.1", 8010, 100)


@pytest.mark.parametrize(
    "env, message",
    [
        ({}, "STRANGLER_PRICING_DATABASE_URL is required"),
        ({"STRANGLER_PRICING_DATABASE_URL": "mysql://x@h/db"}, "must be a postgresql:// URL"),
        (
            {"STRANGLER_PRICING_DATABASE_URL": "postgresql://x@h/db", "STRANGLER_PRICING_PORT": "eighty"},
            "must be an integer",
        ),
        (
            {"STRANGLER_PRICING_DATABASE_URL": "postgresql://x@h/db", "STRANGLER_MARKET_TIME_ZONE": "Mars/Olympus"},
            "unknown time zone",
        ),
    ],
)
def test_a_bad_setting_is_refused_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        PricingSettings.from_env(env)


def test_admin_routes_need_a_token_and_the_projector_a_broker() -> None:
    settings = ServiceSettings.from_env(
        "pricing", default_port=8010, env={"STRANGLER_PRICING_DATABASE_URL": "postgresql://x@h/db"}
    )
    with pytest.raises(SettingsError, match="STRANGLER_ADMIN_TOKEN"):
        settings.require_admin_token()
    with pytest.raises(SettingsError, match="KAFKA_BOOTSTRAP_SERVERS"):
        settings.require_kafka()
