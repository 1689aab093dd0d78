"""Fixtures for proxy integration tests (helpers live in proxy_support.py,
a uniquely named module, so test modules never import another directory's
``conftest``)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from proxy_support import REPO, TOKEN, ProxyProc, StartProxy, Upstream, start_upstream, wait_healthy

from local_stack.net import free_port


@pytest.fixture
def legacy() -> Iterator[Upstream]:
    up = start_upstream("legacy")
    yield up
    up.kill()


@pytest.fixture
def pricing() -> Iterator[Upstream]:
    up = start_upstream("pricing")
    yield up
    up.kill()


@pytest.fixture
def control_dsn(postgres_server: Any) -> str:
    return str(postgres_server.create_database(f"proxy_{uuid.uuid4().hex[:12]}"))


@pytest.fixture
def start_proxy(control_dsn: str, legacy: Upstream, pricing: Upstream, tmp_path: Path) -> Iterator[StartProxy]:
    started: list[ProxyProc] = []

    def start(**env_extra: str) -> ProxyProc:
        port = free_port()
        env = dict(os.environ)
        env.update(
            {
                "STRANGLER_PROXY_PORT": str(port),
                "STRANGLER_LEGACY_URL": legacy.url,
                "STRANGLER_SERVICES": f'{{"pricing": "{pricing.url}"}}',
                "STRANGLER_CONTROL_DATABASE_URL": control_dsn,
                "STRANGLER_ADMIN_TOKEN": TOKEN,
            }
        )
        env.update(env_extra)
        log_path = tmp_path / f"proxy-{port}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "strangler_proxy"],
                env=env,
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        proxy = ProxyProc(port, proc, log_path)
        started.append(proxy)
        wait_healthy(proxy)
        return proxy

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def proxy(start_proxy: StartProxy) -> ProxyProc:
    return start_proxy()
