"""Fixtures of the new-services integration tests: a fresh pricing database
(migrated with Alembic) on the session's PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine

from new_services.platform.migrations import upgrade
from new_services.platform.settings import database_url
from new_services.pricing.bootstrap import SCRIPT_LOCATION


@pytest.fixture
def pricing_dsn(postgres_server: Any) -> str:
    return str(postgres_server.create_database(f"pricing_{uuid.uuid4().hex[:10]}"))


@pytest.fixture
def pricing_engine(pricing_dsn: str) -> Iterator[Engine]:
    url = database_url(pricing_dsn)
    upgrade(SCRIPT_LOCATION, url)
    engine = create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def market_dsn(postgres_server: Any) -> str:
    """A fresh market database, migrated to head."""
    from new_services.market.bootstrap import SCRIPT_LOCATION as MARKET_SCRIPTS

    dsn = str(postgres_server.create_database(f"market_{uuid.uuid4().hex[:10]}"))
    upgrade(MARKET_SCRIPTS, database_url(dsn))
    return dsn


@pytest.fixture
def market_engine(market_dsn: str) -> Iterator[Engine]:
    engine = create_engine(database_url(market_dsn))
    yield engine
    engine.dispose()
