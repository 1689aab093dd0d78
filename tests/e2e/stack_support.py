"""Start and stop ``strangler up`` as a user runs it, for the e2e tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import httpx

from local_stack.net import free_port
from local_stack.processes import ChildFailed, NotReady, wait_until
from local_stack.services import NEW_SERVICES
from local_stack.settings import StackSettings

READY_TIMEOUT = 300.0  # a bound, not a target: a loaded 2-core machine has needed more than 3 min
#: Sales seeded into the session's shared stack (small: the suite must stay quick).
SEEDED_SALES = 3000


@dataclass
class RunningStack:
    process: subprocess.Popen[str]
    state_dir: Path
    env: dict[str, str]

    @property
    def endpoints(self) -> dict:
        return json.loads((self.state_dir / "endpoints.json").read_text())


def stack_env() -> dict[str, str]:
    """Ours minus any setting of the stack, plus free ports for every part."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRANGLER_", "KAFKA_"))}
    ports = StackSettings(
        state_dir=Path("unused"),
        seed_sales=0,
        proxy_port=free_port(),
        proxy_admin_port=free_port(),
        legacy_port=free_port(),
        postgres_port=free_port(),
        kafka_port=free_port(),
        dashboard_port=free_port(),
        service_ports={spec.name: free_port() for spec in NEW_SERVICES},
    )
    return {**env, **ports.render_env()}


def strangler(*args: str) -> list[str]:
    return [sys.executable, "-m", "strangler_cli", *args]


def start_stack(state_dir: Path, env: dict[str, str], *extra: str) -> RunningStack:
    process = subprocess.Popen(
        strangler("up", "--state-dir", str(state_dir), *extra),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stack = RunningStack(process, state_dir, env)

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"strangler up exited {process.returncode}:\n{process.stdout.read()}")
        return (state_dir / "endpoints.json").exists()

    try:
        wait_until(up, timeout=READY_TIMEOUT, what="strangler up", interval=0.2)
    except ChildFailed:
        stop_stack(stack)
        raise
    return stack


def stop_stack(stack: RunningStack, sig: signal.Signals = signal.SIGTERM) -> tuple[int, str]:
    if stack.process.poll() is None:
        stack.process.send_signal(sig)
    output, _ = stack.process.communicate(timeout=60)
    return stack.process.returncode, output


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def wait_dead(pids: list[int], timeout: float = 20.0) -> list[int]:
    """The pids still alive once all are dead or ``timeout`` has passed."""
    with contextlib.suppress(NotReady):
        wait_until(
            lambda: not any(alive(pid) for pid in pids), timeout=timeout, what="the processes to end", interval=0.2
        )
    return [pid for pid in pids if alive(pid)]


# -- what the e2e tests do on a running stack ---------------------------------------


def cli(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        strangler(*args, "--state-dir", str(stack.state_dir)),
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def admin(stack: RunningStack) -> httpx.Client:
    token = (stack.state_dir / "admin-token").read_text().strip()
    return httpx.Client(
        base_url=stack.endpoints["proxy_admin"],  # the admin listener, not the public port
        timeout=15,
        headers={"authorization": f"Bearer {token}", "x-strangler-actor": "e2e@test"},
    )


def set_table(stack: RunningStack, routes: list[dict[str, Any]], reason: str) -> None:
    with admin(stack) as client:
        response = client.put("/_strangler/routes", json={"table": {"routes": routes}, "reason": reason})
        if response.status_code == 409 and "already is that table" in response.text:
            return
        assert response.status_code == 200, response.text
    wait_until(lambda: live_version(stack) == response.json()["version"], timeout=10, what="the flip to be live")


def live_version(stack: RunningStack) -> int:
    with admin(stack) as client:
        return int(client.get("/_strangler/routes").json()["live_version"])


class ClientThreads:
    """Client threads that run until :attr:`stop` is set: started on enter,
    stopped and joined (bounded) on exit. Subclasses fill :attr:`threads`."""

    join_timeout_s = 60.0

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def __enter__(self) -> Self:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=self.join_timeout_s)
