"""The session's shared stack: one ``strangler up`` with a small seeded
market, started once and reused by every e2e test that does not need a
stack of its own (starting one costs ~20 s of the suite).

It is stopped after the last e2e test rather than at the end of the
session: left idle (relay heartbeats, projectors polling, the dashboard
sampling) it took enough of the 2 cores to make the later integration and
resilience tests run up to twice as long."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from stack_support import SEEDED_SALES, RunningStack, stack_env, start_stack, stop_stack

E2E_DIR = Path(__file__).resolve().parent
_running: list[RunningStack] = []


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("stack") / "state", stack_env(), "--seed-sales", str(SEEDED_SALES))
    _running.append(running)
    yield running
    _stop_shared_stack()


def _stop_shared_stack() -> None:
    while _running:
        stop_stack(_running.pop())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    """After the last e2e test (and its modules' fixtures, which put the
    routes back), stop the shared stack."""
    result = yield
    if nextitem is None or E2E_DIR not in nextitem.path.parents:
        _stop_shared_stack()
    return result
