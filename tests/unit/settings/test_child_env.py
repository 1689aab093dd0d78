"""``strangler up`` hands each child the environment its settings class reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from acl.settings import RelaySettings
from local_stack.up import child_env
from new_services.platform.settings import ServiceSettings, database_url
from strangler_proxy.settings import ProxySettings


def test_the_launcher_decides_some_fields_and_the_user_tunes_the_rest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STRANGLER_CDC_POLL_MS", "7")
    monkeypatch.setenv("STRANGLER_LEGACY_DATABASE_URL", "postgresql://someone@elsewhere/db")  # the launcher's wins
    relay = RelaySettings.read_env(
        database_url="postgresql://smp@127.0.0.1:5432/smp?sslmode=disable",
        bootstrap_servers="127.0.0.1:19092",
        state_dir=tmp_path,
        offsets_database_url="postgresql://postgres@127.0.0.1:5432/strangler_control",
    )
    env = child_env(relay)
    assert env["STRANGLER_CDC_POLL_MS"] == "7"
    assert RelaySettings.from_env(env) == relay


def test_a_service_and_the_proxy_read_back_what_the_launcher_gave(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRANGLER_PRICING_READY_MAX_LAG", raising=False)
    service = ServiceSettings.read_env(
        context={"SERVICE": "PRICING"},
        service="pricing",
        database_url=database_url("postgresql://pricing:p%40ss@127.0.0.1:54329/pricing"),
        port=8010,
        host="127.0.0.1",
        bootstrap_servers="127.0.0.1:19092",
        admin_token="tok",
    )
    assert ServiceSettings.from_env("pricing", default_port=1, env=child_env(service)) == service
    proxy = ProxySettings.read_env(
        port=8000,
        legacy_url="http://127.0.0.1:8001",
        services={"pricing": "http://127.0.0.1:8010"},
        control_database_url="postgresql://postgres@127.0.0.1:54329/strangler_control",
        admin_token="tok",
    )
    assert ProxySettings.from_env(child_env(proxy)) == proxy
