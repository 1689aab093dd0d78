"""The session's shared stack: one ``strangler up`` with a small seeded
market, started once and reused by every e2e test that does not need a
stack of its own (starting one costs ~20 s of the suite)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stack_support import SEEDED_SALES, RunningStack, stack_env, start_stack, stop_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("stack") / "state", stack_env(), "--seed-sales", str(SEEDED_SALES))
    yield running
    stop_stack(running)
