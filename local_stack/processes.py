"""Child processes: start, wait for readiness, stop. The one wrapper and the
one "wait until" of ``strangler up``, the tests and the benchmarks.

Every child gets its own process group (so stopping it stops its workers
too) and, on Linux, a parent-death signal, so that even a ``kill -9`` of the
launcher (or of a test run) leaves no orphan behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import httpx

_PR_SET_PDEATHSIG = 1
T = TypeVar("T")


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` asking the kernel to send ``sig`` to the child when
    its parent dies. It runs after the uid switch of ``Popen(user=...)``, so
    it sticks. Call from the main thread: the kernel watches the thread.
    Popen has no other way to set PR_SET_PDEATHSIG, hence the callers'
    ``noqa: PLW1509``; ``arrange`` only calls prctl (no locks, no imports)."""

    def arrange() -> None:
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, sig)
        except OSError:  # not glibc/Linux: best effort only
            pass

    return arrange


class ChildFailed(RuntimeError):
    """A child exited while we waited for it; the message has its log tail."""


class NotReady(ChildFailed, TimeoutError):
    """``wait_until`` reached its deadline; the message says what it waited for."""


class ManagedProcess:
    """One long-running child with its output in ``log_file``. ``start()``
    again after it ended (or was killed) runs it anew."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_file: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_file = log_file
        self.env = dict(env) if env is not None else dict(os.environ)
        self.cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None
        self._returncode: int | None = None

    def start(self) -> ManagedProcess:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            self._process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=die_with_parent(),  # noqa: PLW1509 -- see die_with_parent
            )
        return self

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def exit_code(self) -> int | None:
        """The exit code once the child has ended (``None`` while it runs)."""
        return self._returncode if self._process is None else self._process.poll()

    @property
    def log(self) -> str:
        """Everything the child wrote so far."""
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def send_signal(self, sig: signal.Signals) -> None:
        """``sig`` to the child itself (not its group), if it runs."""
        if self.alive():
            assert self._process is not None
            self._process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """Its exit code once it ends; ``subprocess.TimeoutExpired`` after ``timeout``."""
        if self._process is None:
            if self._returncode is None:
                raise RuntimeError(f"{self.name} was never started")
            return self._returncode
        return self._process.wait(timeout)

    def check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise ChildFailed(
                f"{self.name} exited with code {self._process.returncode}; last log lines:\n{self.log_tail()}"
            )

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the whole process group, then SIGKILL what is left after
        ``timeout``. The exit code (``None`` if it never started)."""
        return self._end(signal.SIGTERM, timeout)

    def kill(self) -> int | None:
        """SIGKILL the whole process group: no cleanup at all (crash tests)."""
        return self._end(signal.SIGKILL, 10.0)

    def _end(self, sig: signal.Signals, timeout: float) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return self._returncode
        stop_child(process, sig, timeout, group=True)
        _signal_group(process.pid, signal.SIGKILL)  # stragglers in the group
        self._returncode = process.returncode
        return self._returncode

    def log_tail(self, chars: int = 2000) -> str:
        return log_tail(self.log_file, chars)


def stop_child(process: subprocess.Popen[bytes], sig: signal.Signals, timeout: float, *, group: bool = False) -> None:
    """Send ``sig`` (to the process group if ``group``), wait up to
    ``timeout``, then SIGKILL. A no-op for a process that already exited."""
    if process.poll() is not None:
        return
    if group:
        _signal_group(process.pid, sig)
    else:
        process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        if group:
            _signal_group(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait(5)


def log_tail(path: Path, chars: int = 2000) -> str:
    """The end of a child's log, for error messages."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def wait_until(
    ready: Callable[[], T],
    *,
    timeout: float,
    what: str,
    watch: ManagedProcess | None = None,
    interval: float = 0.1,
) -> T:
    """Poll ``ready`` until it returns something true, and return that; fail
    early if ``watch`` dies meanwhile, and with ``NotReady`` at the deadline
    (``ready`` gets one last call at the deadline, so a slow poll is not
    cut short). Exceptions from ``ready`` propagate."""
    deadline = time.monotonic() + timeout
    while True:
        if watch is not None:
            watch.check_alive()
        value = ready()
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(interval, left))
    tail = f"\n{watch.log_tail()}" if watch is not None else ""
    raise NotReady(f"{what} not ready after {timeout:g}s{tail}")


def http_ok(url: str) -> Callable[[], bool]:
    """A readiness probe: GET ``url`` answers below 500."""

    def probe() -> bool:
        try:
            return httpx.get(url, timeout=2.0).status_code < 500
        except httpx.HTTPError:
            return False

    return probe
