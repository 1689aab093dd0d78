"""Alembic, driven from code: each service keeps its migration scripts in
``<service>/alembic/`` (an ``env.py`` that calls :func:`run_env`, and
``versions/``); no ``alembic.ini`` is needed.

``strangler up`` runs ``python -m new_services.<service> migrate`` before it
starts the service; ``/readyz`` reports ready only once the database is at
the scripts' head.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, create_engine, inspect, text
from sqlalchemy.engine import URL


def alembic_config(script_location: Path, url: URL) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["url"] = url
    return config


def upgrade(script_location: Path, url: URL) -> None:
    """Bring the database to head (idempotent)."""
    command.upgrade(alembic_config(script_location, url), "head")


def head_revision(script_location: Path) -> str | None:
    return ScriptDirectory(str(script_location)).get_current_head()


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at (``None`` before the first migration)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's ``alembic/env.py`` (online mode only:
    migrations always run against the service's own live database)."""
    url: URL = context.config.attributes["url"]
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


# -- schema steps of the platform's own tables, shared by every service's scripts ---------------


def add_topic_ids() -> None:
    """The broker's topic ids next to the projector's stored offsets
    (``consumer_topics``) and a counter of topics replayed after the broker
    re-created them (``projection_state.topic_resets``); see
    ``new_services/platform/topic_identity.py``. Called from each service's
    revision that adds them: the tables are the platform's, the same in
    every service."""
    import sqlalchemy as sa
    from alembic import op

    op.create_table(
        "consumer_topics",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("topic", sa.String(255), primary_key=True),
        sa.Column("topic_id", sa.String(64), nullable=False),
    )
    op.add_column(
        "projection_state",
        sa.Column("topic_resets", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    )


def drop_topic_ids() -> None:
    """The reverse of ``add_topic_ids``."""
    from alembic import op

    op.drop_column("projection_state", "topic_resets")
    op.drop_table("consumer_topics")
