"""Fixtures for proxy integration tests (helpers live in proxy_support.py,
a uniquely named module, so test modules never import another directory's
``conftest``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from proxy_support import TOKEN, ProxyProc, StartProxy, Upstream, start_proxy_process, start_upstream

from local_stack.net import free_port
from strangler_proxy.settings import ProxySettings


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[Upstream]:
    up = start_upstream("legacy", tmp_path)
    yield up
    up.kill()


@pytest.fixture
def pricing(tmp_path: Path) -> Iterator[Upstream]:
    up = start_upstream("pricing", tmp_path)
    yield up
    up.kill()


@pytest.fixture
def control_dsn(postgres_server: Any) -> str:
    return str(postgres_server.create_database(f"proxy_{uuid.uuid4().hex[:12]}"))


@pytest.fixture
def start_proxy(control_dsn: str, legacy: Upstream, pricing: Upstream, tmp_path: Path) -> Iterator[StartProxy]:
    started: list[ProxyProc] = []

    def start(**env_extra: str) -> ProxyProc:
        settings = ProxySettings(
            port=free_port(),
            admin_port=free_port(),
            legacy_url=legacy.url,
            services={"pricing": pricing.url},
            control_database_url=control_dsn,
            admin_token=TOKEN,
        )
        env = {**os.environ, **settings.render_env(), **env_extra}
        proxy = start_proxy_process(settings.port, settings.admin_port, env, tmp_path / f"proxy-{settings.port}.log")
        started.append(proxy)
        return proxy

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def proxy(start_proxy: StartProxy) -> ProxyProc:
    return start_proxy()
