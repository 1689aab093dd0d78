"""Alembic environment of pricing (see new_services.platform.migrations)."""

from new_services.platform.migrations import run_env
from new_services.pricing.adapters.tables import metadata

run_env(metadata)
