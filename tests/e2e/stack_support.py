"""Start and stop ``strangler up`` as a user runs it, for the e2e tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from local_stack.net import free_port

READY_TIMEOUT = 180.0
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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRANGLER_", "KAFKA_"))}
    for name in ("PROXY", "LEGACY", "POSTGRES", "KAFKA", "PRICING"):
        env[f"STRANGLER_{name}_PORT"] = str(free_port())
    return env


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
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"strangler up exited {process.returncode}:\n{process.stdout.read()}")
        if (state_dir / "endpoints.json").exists():
            return stack
        time.sleep(0.2)
    stop_stack(stack)
    raise AssertionError("strangler up not ready in time")


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
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [pid for pid in pids if alive(pid)]
        if not left:
            return []
        time.sleep(0.2)
    return [pid for pid in pids if alive(pid)]
