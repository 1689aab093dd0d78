"""market's tables (its own database; the platform's ``consumer_offsets`` and
``projection_state`` live beside them, see ``new_services.platform.state``).

- ``listings`` / ``sales``: the legacy ids, times on the market's wall clock
  (naive, as the monolith answers them); new ids come from
  ``listings_id_seq`` / ``sales_id_seq``, which the projector keeps above
  every id it sees from the legacy stream.
- ``players`` (id, name, status) and ``items`` (id, sku, listable): what the
  rules need, from ``smp.players.v1`` / ``smp.catalog.v1``.
- ``sagas``: each write's persisted state (``domain/saga.py``).
- ``outbox``: the events of each write, written in its transaction, relayed
  in ``id`` order to Kafka (``adapters/relay.py``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Sequence,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData()

listings_id_seq = Sequence("listings_id_seq", metadata=metadata)
sales_id_seq = Sequence("sales_id_seq", metadata=metadata)

listings = Table(
    "listings",
    metadata,
    Column("listing_id", BigInteger, listings_id_seq, primary_key=True),
    Column("seller_id", BigInteger, nullable=False),
    Column("item_id", BigInteger, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("quantity_remaining", Integer, nullable=False),
    Column("unit_price", BigInteger, nullable=False),  # copper
    Column("status", String(1), nullable=False),  # O F C X, as the monolith answers
    Column("created_at", DateTime(timezone=False), nullable=False),  # market wall clock
    Column("updated_at", DateTime(timezone=False), nullable=False),
    Index("listings_item_status", "item_id", "status"),
    Index("listings_seller", "seller_id"),
)

sales = Table(
    "sales",
    metadata,
    Column("sale_id", BigInteger, sales_id_seq, primary_key=True),
    Column("listing_id", BigInteger, nullable=False),
    Column("buyer_id", BigInteger, nullable=False),
    Column("seller_id", BigInteger, nullable=False),
    Column("item_id", BigInteger, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("sold_at", DateTime(timezone=False), nullable=False),  # market wall clock
    Index("sales_order", "sold_at", "sale_id"),
    Index("sales_listing", "listing_id"),
    Index("sales_item", "item_id"),
)

players = Table(
    "players",
    metadata,
    Column("player_id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("status", String(1), nullable=False),  # A B D
)

items = Table(
    "items",
    metadata,
    Column("item_id", BigInteger, primary_key=True, autoincrement=False),
    Column("sku", Text, nullable=False),
    Column("listable", Boolean, nullable=False),
)

sagas = Table(
    "sagas",
    metadata,
    Column("saga_id", UUID(as_uuid=False), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("data", JSONB, nullable=False),
    Column("result", JSONB, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Index("sagas_open", "updated_at", postgresql_where=text("state NOT IN ('done', 'compensated', 'refused')")),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("topic", Text, nullable=False),
    Column("key", LargeBinary, nullable=False),
    Column("value", LargeBinary, nullable=False),  # the structured CloudEvent
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("published_at", DateTime(timezone=True), nullable=True),
    Index("outbox_pending", "id", postgresql_where=text("published_at IS NULL")),
)
