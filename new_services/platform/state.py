"""The platform's own tables in every service database: where each consumer
is in its topics, and how its projection is doing.

``consumer_offsets`` holds the *next* offset to read per partition. It is
written in the same transaction as the rows the events produced, so after a
crash the projector resumes exactly after the last committed effect
(exactly-once effect, whatever Kafka redelivers).

``consumer_topics`` holds the broker's id of each topic the offsets were
read from (see :mod:`new_services.platform.topic_identity`): a broker that
lost its topics re-creates them under new ids, and the stored offsets then
point into a topic they were never read from.

``projection_state`` is one row per projection: counters for ``services
list``, the lag the projector last measured, a heartbeat, and a
``generation`` that a rebuild bumps. The projector locks this row at the
start of every batch transaction, so a rebuild (which locks it too) and a
batch never interleave; a projector that sees a new generation drops what
it holds and seeks back to the stored (reset) offsets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert

platform_metadata = MetaData()

consumer_offsets = Table(
    "consumer_offsets",
    platform_metadata,
    Column("consumer", String(64), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)

projection_state = Table(
    "projection_state",
    platform_metadata,
    Column("consumer", String(64), primary_key=True),
    Column("generation", Integer, nullable=False, server_default=text("0")),
    Column("events_applied", BigInteger, nullable=False, server_default=text("0")),
    Column("events_ignored", BigInteger, nullable=False, server_default=text("0")),
    Column("events_skipped", BigInteger, nullable=False, server_default=text("0")),
    Column("events_rejected", BigInteger, nullable=False, server_default=text("0")),
    Column("lag_events", BigInteger, nullable=True),
    Column("last_event_time", DateTime(timezone=True), nullable=True),
    Column("heartbeat_at", DateTime(timezone=True), nullable=True),
    Column("rebuilt_at", DateTime(timezone=True), nullable=True),
    #: topics found re-created under the stored offsets (broker lost), replayed from the start
    Column("topic_resets", BigInteger, nullable=False, server_default=text("0")),
)

consumer_topics = Table(
    "consumer_topics",
    platform_metadata,
    Column("consumer", String(64), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("topic_id", String(64), nullable=False),
)

Position = tuple[str, int]  # (topic, partition)


@dataclass(frozen=True)
class ProjectionStatus:
    """One ``projection_state`` row, as the API reports it."""

    consumer: str
    generation: int
    events_applied: int
    events_ignored: int
    events_skipped: int
    events_rejected: int
    lag_events: int | None
    last_event_time: datetime | None
    heartbeat_at: datetime | None
    rebuilt_at: datetime | None
    topic_resets: int = 0

    def heartbeat_age_s(self, now: datetime | None = None) -> float | None:
        if self.heartbeat_at is None:
            return None
        return ((now or datetime.now(UTC)) - self.heartbeat_at).total_seconds()


def ensure_state_row(conn: Connection, consumer: str) -> None:
    conn.execute(insert(projection_state).values(consumer=consumer).on_conflict_do_nothing())


def lock_generation(conn: Connection, consumer: str) -> int:
    """The current generation, with the row locked until the transaction ends."""
    ensure_state_row(conn, consumer)
    row = conn.execute(
        select(projection_state.c.generation).where(projection_state.c.consumer == consumer).with_for_update()
    ).one()
    return int(row.generation)


def read_offsets(conn: Connection, consumer: str) -> dict[Position, int]:
    rows = conn.execute(select(consumer_offsets).where(consumer_offsets.c.consumer == consumer))
    return {(r.topic, r.partition): r.next_offset for r in rows}


def store_offsets(conn: Connection, consumer: str, positions: dict[Position, int]) -> None:
    if not positions:
        return
    stmt = insert(consumer_offsets)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[consumer_offsets.c.consumer, consumer_offsets.c.topic, consumer_offsets.c.partition],
            set_={"next_offset": stmt.excluded.next_offset},
        ),
        [{"consumer": consumer, "topic": t, "partition": p, "next_offset": o} for (t, p), o in positions.items()],
    )


def read_topic_ids(conn: Connection, consumer: str) -> dict[str, str]:
    rows = conn.execute(select(consumer_topics).where(consumer_topics.c.consumer == consumer))
    return {r.topic: r.topic_id for r in rows}


def reset_topics(conn: Connection, consumer: str, lost: Iterable[str], ids: dict[str, str]) -> None:
    """In the caller's transaction: forget the offsets of the ``lost`` topics
    (read from the start again), count them, and store ``ids`` (topic ->
    id; a lost topic without one forgets its stored id)."""
    lost = list(lost)
    if lost:
        conn.execute(
            delete(consumer_offsets).where(consumer_offsets.c.consumer == consumer, consumer_offsets.c.topic.in_(lost))
        )
        conn.execute(
            delete(consumer_topics).where(consumer_topics.c.consumer == consumer, consumer_topics.c.topic.in_(lost))
        )
        conn.execute(
            update(projection_state)
            .where(projection_state.c.consumer == consumer)
            .values(topic_resets=projection_state.c.topic_resets + len(lost))
        )
    if ids:
        stmt = insert(consumer_topics)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[consumer_topics.c.consumer, consumer_topics.c.topic],
                set_={"topic_id": stmt.excluded.topic_id},
            ),
            [{"consumer": consumer, "topic": t, "topic_id": i} for t, i in ids.items()],
        )


def record_batch(
    conn: Connection,
    consumer: str,
    *,
    applied: int,
    ignored: int,
    skipped: int,
    rejected: int,
    lag_events: int | None,
    last_event_time: datetime | None,
) -> None:
    """Counters and lag after a batch (same transaction as its rows)."""
    values: dict[str, object] = {
        "events_applied": projection_state.c.events_applied + applied,
        "events_ignored": projection_state.c.events_ignored + ignored,
        "events_skipped": projection_state.c.events_skipped + skipped,
        "events_rejected": projection_state.c.events_rejected + rejected,
        "heartbeat_at": datetime.now(UTC),
        "lag_events": lag_events,
    }
    if last_event_time is not None:
        values["last_event_time"] = last_event_time
    conn.execute(update(projection_state).where(projection_state.c.consumer == consumer).values(**values))


def record_heartbeat(conn: Connection, consumer: str, lag_events: int | None) -> None:
    conn.execute(
        update(projection_state)
        .where(projection_state.c.consumer == consumer)
        .values(heartbeat_at=datetime.now(UTC), lag_events=lag_events)
    )


def rebuild(conn: Connection, consumer: str, drop_read_model: Callable[[Connection], None]) -> int:
    """Start a rebuild, in the caller's transaction: lock the state row (so a
    batch in flight finishes first), drop the read model, forget every
    offset and counter, bump the generation. Returns the new generation;
    the projector seeing it replays its topics from the beginning."""
    generation = lock_generation(conn, consumer) + 1
    drop_read_model(conn)
    conn.execute(delete(consumer_offsets).where(consumer_offsets.c.consumer == consumer))
    conn.execute(
        update(projection_state)
        .where(projection_state.c.consumer == consumer)
        .values(
            generation=generation,
            events_applied=0,
            events_ignored=0,
            events_skipped=0,
            events_rejected=0,
            lag_events=None,
            last_event_time=None,
            rebuilt_at=datetime.now(UTC),
        )
    )
    return generation


def read_status(conn: Connection, consumer: str) -> ProjectionStatus | None:
    row = conn.execute(select(projection_state).where(projection_state.c.consumer == consumer)).first()
    return None if row is None else ProjectionStatus(**row._asdict())
