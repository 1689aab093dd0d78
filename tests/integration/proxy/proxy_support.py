"""Helpers for proxy integration tests: upstream and proxy processes.

Upstreams are small threaded HTTP servers in their own processes (so a test
can kill one); each test gets a fresh control database on the session's
PostgreSQL and proxies started as ``python -m strangler_proxy`` exactly as
``strangler up`` starts them.
"""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from local_stack.net import free_port

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
TOKEN = "test-admin-token-0123456789"


@dataclass
class Upstream:
    name: str
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self) -> int:
        return int(httpx.get(self.url + "/__count", timeout=5).json()["count"])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def start_upstream(name: str) -> Upstream:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "proxy_upstream_server.py"), name, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    assert ready and proc.stdout.readline().strip() == b"ready", f"upstream {name} did not start"
    return Upstream(name, port, proc)


@dataclass
class ProxyProc:
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    token: str = TOKEN
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.token}", "x-strangler-actor": "pytest"}
        return httpx.request(method, self.url + "/_strangler" + path, headers=headers, timeout=10, **kw)

    def set_route(self, route: str, mode: str, **extra: Any) -> httpx.Response:
        r = self.admin("POST", "/routes/set", json={"route": route, "mode": mode, "reason": "test", **extra})
        assert r.status_code == 200, r.text
        return r

    def apply(self, routes: list[dict[str, Any]]) -> httpx.Response:
        r = self.admin("PUT", "/routes", json={"table": {"routes": routes}, "reason": "test"})
        assert r.status_code == 200, r.text
        return r

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                return -9
        return int(self.proc.returncode)


def wait_healthy(proxy: ProxyProc, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proxy.proc.poll() is not None:
            raise AssertionError(f"proxy exited with {proxy.proc.returncode}:\n{proxy.log()}")
        try:
            if httpx.get(proxy.url + "/_strangler/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"proxy not healthy in {timeout}s:\n{proxy.log()}")


StartProxy = Callable[..., "ProxyProc"]
