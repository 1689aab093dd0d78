"""market store: listings, sales, players, items, sagas, outbox, and the
platform's offsets/state tables

Written out table by table (not ``metadata.create_all``), so this revision
keeps creating what it created on the day it was written.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

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
    op.execute("CREATE SEQUENCE listings_id_seq")
    op.execute("CREATE SEQUENCE sales_id_seq")
    op.create_table(
        "listings",
        sa.Column("listing_id", sa.BigInteger, sa.Sequence("listings_id_seq"), primary_key=True),
        sa.Column("seller_id", sa.BigInteger, nullable=False),
        sa.Column("item_id", sa.BigInteger, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("quantity_remaining", sa.Integer, nullable=False),
        sa.Column("unit_price", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(1), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=False), nullable=False),
    )
    op.create_index("listings_item_status", "listings", ["item_id", "status"])
    op.create_index("listings_seller", "listings", ["seller_id"])
    op.create_table(
        "sales",
        sa.Column("sale_id", sa.BigInteger, sa.Sequence("sales_id_seq"), primary_key=True),
        sa.Column("listing_id", sa.BigInteger, nullable=False),
        sa.Column("buyer_id", sa.BigInteger, nullable=False),
        sa.Column("seller_id", sa.BigInteger, nullable=False),
        sa.Column("item_id", sa.BigInteger, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price", sa.BigInteger, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("fee", sa.BigInteger, nullable=False),
        sa.Column("sold_at", sa.DateTime(timezone=False), nullable=False),
    )
    op.create_index("sales_order", "sales", ["sold_at", "sale_id"])
    op.create_index("sales_listing", "sales", ["listing_id"])
    op.create_index("sales_item", "sales", ["item_id"])
    op.create_table(
        "players",
        sa.Column("player_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("status", sa.String(1), nullable=False),
    )
    op.create_table(
        "items",
        sa.Column("item_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column("listable", sa.Boolean, nullable=False),
    )
    op.create_table(
        "sagas",
        sa.Column("saga_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("data", JSONB, nullable=False),
        sa.Column("result", JSONB, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
    )
    op.create_index(
        "sagas_open", "sagas", ["updated_at"], postgresql_where=sa.text("state NOT IN ('done', 'compensated', 'refused')")
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("outbox_pending", "outbox", ["id"], postgresql_where=sa.text("published_at IS NULL"))


def downgrade() -> None:
    for table in ("outbox", "sagas", "items", "players", "sales", "listings", "projection_state", "consumer_offsets"):
        op.drop_table(table)
    op.execute("DROP SEQUENCE sales_id_seq")
    op.execute("DROP SEQUENCE listings_id_seq")
