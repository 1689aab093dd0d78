"""The one child-process wrapper and the one "wait until" (local_stack.processes)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from local_stack.processes import ChildFailed, ManagedProcess, NotReady, wait_until

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]


def test_wait_until_returns_the_first_true_value_and_names_what_timed_out() -> None:
    answers = iter([0, None, "ready"])
    assert wait_until(lambda: next(answers), timeout=5, what="x", interval=0) == "ready"
    with pytest.raises(NotReady, match=r"the thing not ready after 0\.05s") as late:
        wait_until(lambda: False, timeout=0.05, what="the thing", interval=0.01)
    assert isinstance(late.value, TimeoutError) and isinstance(late.value, ChildFailed)


def test_wait_until_fails_early_when_the_watched_child_dies(tmp_path: Path) -> None:
    child = ManagedProcess("quitter", [sys.executable, "-c", "print('bye')"], log_file=tmp_path / "q.log").start()
    with pytest.raises(ChildFailed, match="quitter exited with code 0") as failed:
        wait_until(lambda: False, timeout=30, what="never", watch=child)
    assert "bye" in str(failed.value) and not isinstance(failed.value, NotReady)


def test_stop_kill_and_restart_give_exit_codes(tmp_path: Path) -> None:
    child = ManagedProcess("sleeper", SLEEPER, log_file=tmp_path / "s.log").start()
    wait_until(lambda: "up" in child.log, timeout=30, what="the sleeper", watch=child, interval=0.01)
    assert child.kill() == -signal.SIGKILL and not child.alive() and child.exit_code == -signal.SIGKILL
    child.start()
    wait_until(lambda: child.log.count("up") == 2, timeout=30, what="the sleeper again", watch=child, interval=0.01)
    assert child.stop(timeout=10) == -signal.SIGTERM
    assert child.stop() == -signal.SIGTERM  # stopping twice is harmless
    child.send_signal(signal.SIGTERM)  # a no-op once it ended
