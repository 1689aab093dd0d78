"""Test-session fixtures shared by every tier.

One embedded PostgreSQL per test session (not per test): it starts in under a
second, listens on a free loopback port, and is stopped at session end. The
Django test database of the monolith lives on it (pytest-django creates
``test_smp``); integration tests of other parts create their own databases on
the same server with ``postgres_server.create_database(name)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.postgres import EmbeddedPostgres


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """The session's PostgreSQL 18 (wal_level=logical, TCP on 127.0.0.1)."""
    root: Path = tmp_path_factory.mktemp("postgres")
    with EmbeddedPostgres(root / "data") as server:
        yield server


@pytest.fixture(scope="session")
def django_db_modify_db_settings(postgres_server: EmbeddedPostgres) -> None:
    """Point the monolith's Django settings at the session's server before
    pytest-django creates the test database (documented pytest-django hook)."""
    from django.conf import settings

    settings.DATABASES["default"].update(
        {"HOST": postgres_server.host, "PORT": str(postgres_server.port), "USER": "postgres", "PASSWORD": ""}
    )
