"""The one settings helper: loud about what is missing or malformed, quiet
about secrets, database URLs kept whole, and ``render_env`` read back by
``from_env`` for every component."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from acl.debezium_config import embedded_properties
from acl.settings import ConsumerSettings, RelaySettings
from legacy_monolith.smp.settings import database_from_url
from local_stack.settings import StackSettings
from new_services.platform.settings import ServiceSettings
from new_services.pricing.settings import PricingSettings
from strangler_proxy.settings import ProxySettings
from strangler_settings import DatabaseUrl, EnvSettings, SettingsError, env, integer

DSN = "postgresql://smp:s%40cret@db.internal:6432/smp?sslmode=require&application_name=x"
CONTROL_DSN = "postgresql://ctl:c%40ntrol@ctl.internal:6433/control?sslmode=verify-full"


@dataclass(frozen=True)
class Example(EnvSettings):
    url: str = env("EXAMPLE_URL")
    token: str = env("EXAMPLE_TOKEN", secret=True)
    workers: int = env("EXAMPLE_WORKERS", integer(1, 8), default=1)


def test_a_missing_variable_is_named() -> None:
    with pytest.raises(SettingsError, match=r"^EXAMPLE_URL is required$"):
        Example.read_env({"EXAMPLE_TOKEN": "t"})


@pytest.mark.parametrize("raw", ["many", "0", "9"])
def test_a_malformed_integer_is_named_with_its_value(raw: str) -> None:
    with pytest.raises(SettingsError, match=f"^EXAMPLE_WORKERS must .*{raw}"):
        Example.read_env({"EXAMPLE_URL": "u", "EXAMPLE_TOKEN": "t", "EXAMPLE_WORKERS": raw})


def test_a_secret_is_masked_in_repr_but_given_to_a_child() -> None:
    settings = Example.read_env({"EXAMPLE_URL": "u", "EXAMPLE_TOKEN": "hunter2"})
    assert "hunter2" not in repr(settings) and "**" in repr(settings)
    assert settings.token == "hunter2" and f"{settings.token}" == "hunter2"
    assert settings.render_env()["EXAMPLE_TOKEN"] == "hunter2"
    built = Example(url="u", token="hunter2")  # masked however it was built
    assert "hunter2" not in repr(built)


def test_a_malformed_secret_is_not_echoed() -> None:
    @dataclass(frozen=True)
    class Keyed(EnvSettings):
        key: int = env("EXAMPLE_KEY", integer(), secret=True)

    with pytest.raises(SettingsError, match="EXAMPLE_KEY") as error:
        Keyed.read_env({"EXAMPLE_KEY": "hunter2"})
    assert "hunter2" not in str(error.value)


def test_database_urls_in_settings_are_masked_in_repr(tmp_path: Path) -> None:
    relay = RelaySettings.from_env(
        {
            "STRANGLER_LEGACY_DATABASE_URL": DSN,
            "KAFKA_BOOTSTRAP_SERVERS": "b:9092",
            "STRANGLER_CDC_STATE_DIR": str(tmp_path),
            "STRANGLER_CDC_OFFSETS_DATABASE_URL": CONTROL_DSN,
        }
    )
    assert "s%40cret" not in repr(relay) and relay.database.password == "s@cret"
    assert "c%40ntrol" not in repr(relay) and relay.offsets_database.password == "c@ntrol"
    service = ServiceSettings.from_env("pricing", default_port=1, env={"STRANGLER_PRICING_DATABASE_URL": DSN})
    assert "s%40cret" not in repr(service) and "s@cret" not in repr(service)


def test_a_database_url_keeps_its_query_and_hides_its_password() -> None:
    db = DatabaseUrl.parse(DSN)
    assert (db.host, db.port, db.user, db.password, db.dbname) == ("db.internal", 6432, "smp", "s@cret", "smp")
    assert db.options == {"sslmode": "require", "application_name": "x"}
    assert str(db) == DSN and "s@cret" not in repr(db) and "s%40cret" not in repr(db)
    with pytest.raises(ValueError, match="postgresql://"):
        DatabaseUrl.parse("mysql://u@h/db")


def test_django_gets_the_query_parameters_as_options() -> None:
    entry = database_from_url(DSN)
    assert (entry["HOST"], entry["PORT"], entry["NAME"], entry["USER"], entry["PASSWORD"]) == (
        "db.internal",
        "6432",
        "smp",
        "smp",
        "s@cret",
    )
    assert entry["OPTIONS"] == {"sslmode": "require", "application_name": "x"}


def test_debezium_gets_the_query_parameters_as_database_properties(tmp_path: Path) -> None:
    settings = RelaySettings.from_env(
        {
            "STRANGLER_LEGACY_DATABASE_URL": DSN,
            "KAFKA_BOOTSTRAP_SERVERS": "b:9092",
            "STRANGLER_CDC_STATE_DIR": str(tmp_path),
            "STRANGLER_CDC_OFFSETS_DATABASE_URL": CONTROL_DSN,
        }
    )
    properties = embedded_properties(settings)
    assert properties["database.sslmode"] == "require"
    assert properties["database.ApplicationName"] == "x"
    assert properties["offset.storage.jdbc.connection.url"] == (
        "jdbc:postgresql://ctl.internal:6433/control?sslmode=verify-full&ApplicationName=strangler-cdc-offsets"
    )
    assert properties["offset.storage.jdbc.connection.password"] == "c@ntrol"
    assert (properties["database.hostname"], properties["database.port"], properties["database.password"]) == (
        "db.internal",
        "6432",
        "s@cret",
    )


def test_a_parameter_debezium_cannot_take_fails_loudly(tmp_path: Path) -> None:
    settings = RelaySettings.from_env(
        {
            "STRANGLER_LEGACY_DATABASE_URL": "postgresql://u@h/db?target_session_attrs=any",
            "KAFKA_BOOTSTRAP_SERVERS": "b:9092",
            "STRANGLER_CDC_STATE_DIR": str(tmp_path),
            "STRANGLER_CDC_OFFSETS_DATABASE_URL": CONTROL_DSN,
        }
    )
    with pytest.raises(SettingsError, match="target_session_attrs"):
        embedded_properties(settings)


def test_render_env_round_trips_through_from_env(tmp_path: Path) -> None:
    proxy = ProxySettings.from_env(
        {
            "STRANGLER_PROXY_PORT": "8100",
            "STRANGLER_PROXY_WORKERS": "3",
            "STRANGLER_LEGACY_URL": "http://127.0.0.1:8001/",
            "STRANGLER_SERVICES": '{"pricing": "http://127.0.0.1:8010"}',
            "STRANGLER_CONTROL_DATABASE_URL": DSN,
            "STRANGLER_ADMIN_TOKEN": "tok",
            "STRANGLER_ACCESS_LOG": "yes",
            "STRANGLER_METRICS_DIR": str(tmp_path),
        }
    )
    assert ProxySettings.from_env(proxy.render_env()) == proxy

    relay = RelaySettings.from_env(
        {
            "STRANGLER_LEGACY_DATABASE_URL": DSN,
            "KAFKA_BOOTSTRAP_SERVERS": "b:9092",
            "STRANGLER_CDC_STATE_DIR": str(tmp_path),
            "STRANGLER_CDC_OFFSETS_DATABASE_URL": CONTROL_DSN,
            "STRANGLER_CDC_POLL_MS": "7",
        }
    )
    assert RelaySettings.from_env(relay.render_env()) == relay
    consumer = ConsumerSettings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "b:9092", "STRANGLER_ACL_COMMIT_MS": "350"})
    assert ConsumerSettings.from_env(consumer.render_env()) == consumer

    pricing = PricingSettings.from_env(
        {"STRANGLER_PRICING_DATABASE_URL": DSN, "STRANGLER_PRICING_PORT": "8111", "STRANGLER_ADMIN_TOKEN": "tok"}
    )
    rendered = pricing.render_env()
    assert (
        rendered["STRANGLER_PRICING_PORT"] == "8111" and "sslmode=require" in rendered["STRANGLER_PRICING_DATABASE_URL"]
    )
    assert PricingSettings.from_env(rendered) == pricing
    service = ServiceSettings.from_env("pricing", default_port=1, env=rendered)
    assert service == pricing.service

    stack = StackSettings.from_env(
        state_dir=tmp_path, env={"STRANGLER_PROXY_PORT": "8100", "STRANGLER_PRICING_DATABASE_URL": DSN}
    )
    assert StackSettings.from_env(state_dir=tmp_path, env=stack.render_env()) == stack


def test_numbers_and_choices_are_bounded_and_named() -> None:
    from strangler_settings import number, one_of, read

    assert read("X_S", number(0, 30), environ={"X_S": "0.5"}) == 0.5
    with pytest.raises(SettingsError, match="X_S must be between 0 and 30, got 600"):
        read("X_S", number(0, 30), environ={"X_S": "600"})
    with pytest.raises(SettingsError, match="X_MODE must be one of thread, off"):
        read("X_MODE", one_of("thread", "off"), environ={"X_MODE": "process"})


def test_the_proxy_s_identity_settings_round_trip_and_go_together(tmp_path: Path) -> None:
    base = {
        "STRANGLER_PROXY_PORT": "8100",
        "STRANGLER_LEGACY_URL": "http://127.0.0.1:8001",
        "STRANGLER_CONTROL_DATABASE_URL": DSN,
        "STRANGLER_ADMIN_TOKEN": "tok",
    }
    proxy = ProxySettings.from_env(
        {
            **base,
            "STRANGLER_IDENTITY_KEYS": str(tmp_path / "keys.json"),
            "STRANGLER_INTERNAL_TOKEN": "internal-secret",
            "STRANGLER_IDENTITY_TTL_S": "1.5",
        }
    )
    assert ProxySettings.from_env(proxy.render_env()) == proxy
    assert proxy.identity_ttl_s == 1.5 and "internal-secret" not in repr(proxy)
    with pytest.raises(SettingsError, match="STRANGLER_INTERNAL_TOKEN is required"):
        ProxySettings.from_env({**base, "STRANGLER_IDENTITY_KEYS": str(tmp_path / "keys.json")})
