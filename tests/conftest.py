"""Test-session fixtures shared by every tier.

One embedded PostgreSQL per test session (not per test): it starts in under a
second, listens on a free loopback port, and is stopped at session end. The
Django test database of the monolith lives on it (pytest-django creates
``test_smp``); integration tests of other parts create their own databases on
the same server with ``postgres_server.create_database(name)``.
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.kafka import EmbeddedKafka
from local_stack.postgres import EmbeddedPostgres

SESSION_ROOTS = Path(tempfile.gettempdir()) / f"strangler-tests-{os.getuid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """Give this session a temporary root of its own, and let SIGTERM (a CI
    timeout, ``timeout(1)``) end it like Ctrl-C does, so session fixtures
    tear down instead of leaving their PostgreSQL and stacks running.

    pytest keeps the last three ``pytest-N`` folders of a shared root and
    deletes older ones when a session starts, live or not: a second pytest
    run on the machine (a developer's, a second checkout's) deleted the
    first session's PostgreSQL data directory under it. Each session now
    gets ``<tmp>/strangler-tests-<uid>/<pid>``; roots of sessions no longer
    running are removed here."""
    signal.signal(signal.SIGTERM, _interrupt)
    if os.environ.get("PYTEST_DEBUG_TEMPROOT") or hasattr(config, "workerinput"):
        return
    SESSION_ROOTS.mkdir(mode=0o700, exist_ok=True)
    for root in SESSION_ROOTS.iterdir():
        if root.name.isdigit() and not _alive(int(root.name)):
            shutil.rmtree(root, ignore_errors=True)
    mine = SESSION_ROOTS / str(os.getpid())
    mine.mkdir(exist_ok=True)
    os.environ["PYTEST_DEBUG_TEMPROOT"] = str(mine)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """The session's PostgreSQL 18 (wal_level=logical, TCP on 127.0.0.1)."""
    root: Path = tmp_path_factory.mktemp("postgres")
    with EmbeddedPostgres(root / "data") as server:
        yield server


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[EmbeddedKafka]:
    """A broker of the test's own, for tests that stop and start it again
    (``stop()`` then ``start()``: a new, empty broker on the same port, as
    after the embedded broker's restart)."""
    broker = EmbeddedKafka(tmp_path / "kafka").start()
    try:
        yield broker
    finally:
        gc.collect()  # librdkafka producers sit in cycles: let them stop before the broker
        broker.stop()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(postgres_server: EmbeddedPostgres) -> None:
    """Point the monolith's Django settings at the session's server before
    pytest-django creates the test database (documented pytest-django hook)."""
    from django.conf import settings

    settings.DATABASES["default"].update(
        {"HOST": postgres_server.host, "PORT": str(postgres_server.port), "USER": "postgres", "PASSWORD": ""}
    )
