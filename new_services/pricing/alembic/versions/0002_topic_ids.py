"""the broker's topic ids next to the stored offsets, and a topic reset counter

A broker that lost its topics (the embedded one keeps them in memory)
re-creates them under new ids; the projector compares the stored ids with
the broker's and replays a re-created topic from its start
(``new_services/platform/topic_identity.py``).

Revision ID: 0002
Revises: 0001
"""

from new_services.platform.migrations import add_topic_ids, drop_topic_ids

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_topic_ids()


def downgrade() -> None:
    drop_topic_ids()
