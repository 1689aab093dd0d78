"""pricing read model and the platform's offsets/state tables

Written out table by table (not ``metadata.create_all``), so this revision
keeps creating what it created on the day it was written.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consumer_offsets",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("topic", sa.String(255), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "projection_state",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("generation", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("events_applied", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("events_ignored", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("events_skipped", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("events_rejected", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("lag_events", sa.BigInteger, nullable=True),
        sa.Column("last_event_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rebuilt_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "items",
        sa.Column("item_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("sku", sa.String(64), nullable=False),
    )
    op.create_table(
        "sales",
        sa.Column("sale_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("item_id", sa.BigInteger, nullable=False),
        sa.Column("sold_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price", sa.BigInteger, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.Uuid(as_uuid=False), nullable=True),
    )
    op.create_index("sales_item_time", "sales", ["item_id", "sold_at", "sale_id"])
    op.create_table(
        "candles",
        sa.Column("item_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("interval", sa.String(3), primary_key=True),
        sa.Column("bucket", sa.DateTime(timezone=False), primary_key=True),
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in ("open",)),
        sa.Column("open_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("open_id", sa.BigInteger, nullable=False),
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in ("high", "low", "close")),
        sa.Column("close_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("close_id", sa.BigInteger, nullable=False),
        sa.Column("volume", sa.BigInteger, nullable=False),
        sa.Column("trades", sa.Integer, nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("candles", "sales", "items", "projection_state", "consumer_offsets"):
        op.drop_table(table)
