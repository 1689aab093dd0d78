"""Settings from env (loud failures) and the auto-rollback window."""

from __future__ import annotations

import pytest

from strangler_proxy.health import RouteHealth
from strangler_proxy.routing import RouteTable
from strangler_proxy.settings import ProxySettings, SettingsError

BASE = {
    "STRANGLER_PROXY_PORT": "8000",
    "STRANGLER_LEGACY_URL": "http://127.0.0.1:8001",
    "STRANGLER_SERVICES": '{"pricing": "http://127.0.0.1:8101"}',
    "STRANGLER_CONTROL_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/control",
    "STRANGLER_ADMIN_TOKEN": "s3cret-token",
}


def test_settings_read_with_defaults_and_token_not_in_repr() -> None:
    s = ProxySettings.from_env(BASE)
    assert (s.host, s.port, s.workers, s.services) == ("127.0.0.1", 8000, 1, {"pricing": "http://127.0.0.1:8101"})
    assert "s3cret" not in repr(s)


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"STRANGLER_PROXY_PORT": ""}, "STRANGLER_PROXY_PORT"),
        ({"STRANGLER_ADMIN_TOKEN": ""}, "STRANGLER_ADMIN_TOKEN"),
        ({"STRANGLER_LEGACY_URL": "ftp://x"}, "STRANGLER_LEGACY_URL"),
        ({"STRANGLER_SERVICES": "[1]"}, "STRANGLER_SERVICES"),
        ({"STRANGLER_CONTROL_DATABASE_URL": ""}, "STRANGLER_CONTROL_DATABASE_URL"),
        ({"STRANGLER_PROXY_WORKERS": "0"}, "STRANGLER_PROXY_WORKERS"),
    ],
)
def test_missing_or_bad_values_fail_loudly(change: dict, needle: str) -> None:
    with pytest.raises(SettingsError) as exc:
        ProxySettings.from_env({**BASE, **change})
    assert needle in str(exc.value)
    assert "s3cret" not in str(exc.value)


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_error_rate_and_latency_limits_breach_only_with_enough_samples() -> None:
    clock = Clock()
    h = RouteHealth(clock)
    t = RouteTable.from_spec(
        {
            "routes": [
                {
                    "methods": ["GET"],
                    "path": "/x/",
                    "mode": "new",
                    "service": "pricing",
                    "limits": {"error_rate": 0.1, "p99_ms": 50, "window_s": 10, "min_requests": 10},
                }
            ]
        },
        ["pricing"],
    )
    route = t.routes[0]
    for _ in range(9):
        h.record(route.key, True, 0.001)
    assert h.breach(route) is None  # below min_requests
    h.record(route.key, False, 0.001)
    assert "error rate" in (h.breach(route) or "")
    clock.now += 11  # window slides past the errors
    assert h.breach(route) is None
    for _ in range(20):
        h.record(route.key, False, 0.2)
    assert "p99" in (h.breach(route) or "")


def test_mismatch_rate_breach() -> None:
    h = RouteHealth(Clock())
    t = RouteTable.from_spec(
        {
            "routes": [
                {
                    "methods": ["GET"],
                    "path": "/x/",
                    "mode": "shadow",
                    "service": "pricing",
                    "limits": {"mismatch_rate": 0.2, "min_requests": 5},
                }
            ]
        },
        ["pricing"],
    )
    for i in range(10):
        h.record_shadow(t.routes[0].key, i < 3)
    assert [r.key for r, _ in h.breaches(t)] == ["GET /x/"]
