"""Helpers for proxy integration tests: upstream and proxy processes.

Upstreams are small threaded HTTP servers in their own processes (so a test
can kill one); each test gets a fresh control database on the session's
PostgreSQL and proxies started as ``python -m strangler_proxy`` exactly as
``strangler up`` starts them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from local_stack.net import free_port
from local_stack.processes import ManagedProcess, wait_until

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
TOKEN = "test-admin-token-0123456789"


@dataclass
class Upstream:
    name: str
    port: int
    process: ManagedProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self) -> int:
        return int(httpx.get(self.url + "/__count", timeout=5).json()["count"])

    def kill(self) -> None:
        self.process.kill()


def start_upstream(name: str, log_dir: Path) -> Upstream:
    port = free_port()
    argv = [sys.executable, str(HERE / "proxy_upstream_server.py"), name, str(port)]
    process = ManagedProcess(f"upstream-{name}", argv, log_file=log_dir / f"upstream-{name}-{port}.log").start()
    try:
        wait_until(lambda: "ready" in process.log, timeout=10, what=f"upstream {name}", watch=process, interval=0.02)
    except BaseException:
        process.kill()
        raise
    return Upstream(name, port, process)


@dataclass
class ProxyProc:
    port: int
    admin_port: int
    process: ManagedProcess
    token: str = TOKEN
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The public port: traffic only (``/_strangler/`` is routed like any path)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        """The admin listener: admin API, health and metrics."""
        return f"http://127.0.0.1:{self.admin_port}"

    def log(self) -> str:
        return self.process.log

    def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.token}", "x-strangler-actor": "pytest"}
        return httpx.request(method, self.admin_url + "/_strangler" + path, headers=headers, timeout=10, **kw)

    def set_route(self, route: str, mode: str, **extra: Any) -> httpx.Response:
        r = self.admin("POST", "/routes/set", json={"route": route, "mode": mode, "reason": "test", **extra})
        assert r.status_code == 200, r.text
        return r

    def apply(self, routes: list[dict[str, Any]]) -> httpx.Response:
        r = self.admin("PUT", "/routes", json={"table": {"routes": routes}, "reason": "test"})
        assert r.status_code == 200, r.text
        return r

    def stop(self) -> int | None:
        return self.process.stop(15)


def start_proxy_process(port: int, admin_port: int, env: Mapping[str, str], log_path: Path) -> ProxyProc:
    """``python -m strangler_proxy`` as ``strangler up`` starts it; returns once healthy."""
    process = ManagedProcess("proxy", [sys.executable, "-m", "strangler_proxy"], log_file=log_path, env=env, cwd=REPO)
    proxy = ProxyProc(port, admin_port, process.start())
    try:
        wait_healthy(proxy)
    except BaseException:
        proxy.stop()
        raise
    return proxy


def wait_healthy(proxy: ProxyProc, timeout: float = 20.0) -> None:
    def healthy() -> bool:
        try:
            return httpx.get(proxy.admin_url + "/_strangler/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, timeout=timeout, what="the proxy", watch=proxy.process, interval=0.05)


StartProxy = Callable[..., "ProxyProc"]
