"""market's settings and command line fail loudly, naming the variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from new_services.market.settings import MarketSettings
from new_services.platform.settings import SettingsError

BASE = {"STRANGLER_MARKET_DATABASE_URL": "postgresql://u:p@h:5432/market"}


def test_defaults_and_optional_parts() -> None:
    settings = MarketSettings.from_env(BASE)
    assert settings.service.port == 8011 and settings.relay == "thread" and settings.crash_after is None
    assert settings.control_database_url is None and settings.catch_up_s == 10.0
    with pytest.raises(SettingsError, match="STRANGLER_LEGACY_URL"):
        settings.require_write_side()


def test_the_control_database_url_is_kept_for_libpq() -> None:
    settings = MarketSettings.from_env(
        {**BASE, "STRANGLER_CONTROL_DATABASE_URL": "postgresql://a:b@c:5/ctl?sslmode=disable"}
    )
    assert settings.control_database_url == "postgresql://a:b@c:5/ctl?sslmode=disable"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STRANGLER_MARKET_CRASH_AFTER", "nowhere"),
        ("STRANGLER_MARKET_RELAY", "process"),
        ("STRANGLER_MARKET_CATCH_UP_S", "soon"),
        ("STRANGLER_MARKET_TIME_ZONE", "Mars/Olympus"),
    ],
)
def test_bad_values_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        MarketSettings.from_env({**BASE, name: value})


def test_the_command_line_exits_2_with_one_line() -> None:
    usage = subprocess.run([sys.executable, "-m", "new_services.market"], capture_output=True, text=True, check=False)
    assert usage.returncode == 2 and "migrate|serve|project|relay" in usage.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "new_services.market", "serve"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )
    assert missing.returncode == 2 and "STRANGLER_MARKET_DATABASE_URL" in missing.stderr


def test_render_env_round_trips_and_hides_the_secrets(tmp_path: Path) -> None:
    settings = MarketSettings.from_env(
        {
            **BASE,
            "STRANGLER_LEGACY_URL": "http://127.0.0.1:8001/",
            "STRANGLER_INTERNAL_TOKEN": "internal-secret",
            "STRANGLER_IDENTITY_KEYS": str(tmp_path / "keys.json"),
            "STRANGLER_CONTROL_DATABASE_URL": "postgresql://a:hunter2@c:5/ctl",
            "STRANGLER_MARKET_CATCH_UP_S": "0.5",
            "STRANGLER_MARKET_RELAY": "off",
        }
    )
    assert MarketSettings.from_env(settings.render_env()) == settings
    assert settings.legacy_url == "http://127.0.0.1:8001" and settings.identity_keys == tmp_path / "keys.json"
    assert "internal-secret" not in repr(settings) and "hunter2" not in repr(settings)
