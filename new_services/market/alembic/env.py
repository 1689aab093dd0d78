"""Alembic environment of market (see new_services.platform.migrations)."""

from new_services.market.adapters.tables import metadata
from new_services.platform.migrations import run_env

run_env(metadata)
