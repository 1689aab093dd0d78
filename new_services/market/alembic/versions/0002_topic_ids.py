"""the broker's topic ids next to the stored offsets, and a topic reset counter

A broker that lost its topics (the embedded one keeps them in memory)
re-creates them under new ids; the projector compares the stored ids with
the broker's and replays a re-created topic from its start
(``new_services/platform/topic_identity.py``).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
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


def downgrade() -> None:
    op.drop_column("projection_state", "topic_resets")
    op.drop_table("consumer_topics")
