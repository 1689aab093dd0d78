"""The event-consumption loop every new service uses (its "projector").

It reads the service's domain topics from Kafka, decodes each CloudEvent
with the contracts' decoder, hands a batch to the service's
:class:`Projection` and, **in the same database transaction**, stores the
next offset of every partition it consumed. Offsets live in the service's
own database, not in a Kafka consumer group, so:

- a crash before the commit loses nothing (the batch is read again from the
  stored offsets) and a crash after it repeats nothing (the projector seeks
  past it): every event has its effect exactly once;
- an event that Kafka holds twice (the ACL re-published it after its own
  crash, or a new CDC snapshot re-read the rows) is absorbed by the
  projection's idempotency keys (the event id, and each aggregate's id);
- event types or versions this build does not know are counted and skipped,
  and a payload that breaks its contract is counted as rejected and logged:
  the stream goes on;
- a topic the broker lost and re-created (the embedded broker keeps topics
  in memory) is noticed by its new topic id, at (re)sync, before every
  batch is stored and on every idle heartbeat: its offsets go back to the
  start in one transaction with the new id, the batch in hand is dropped,
  the source seeks, and ``projection_state.topic_resets`` counts it (see
  :mod:`new_services.platform.topic_identity`). The replay is absorbed by
  the projection's idempotency.

Two ports keep it testable without a broker: :class:`EventSource` (Kafka,
see :class:`KafkaEventSource`) and :class:`Projection` (the service's read
model).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from new_services.contracts.codec import CONTRACTS, Codec, DecodedEvent, MalformedEvent, UnknownEventType
from new_services.platform import state
from new_services.platform.state import Position
from new_services.platform.topic_identity import TopicCheck, check_topics, cluster_topic_ids

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    """One Kafka record as the projector needs it."""

    topic: str
    partition: int
    offset: int
    value: bytes | None


class EventSource(Protocol):
    """Where records come from (Kafka in production, a list in unit tests)."""

    def seek(self, positions: dict[Position, int]) -> None:
        """Read every partition of the topics, from ``positions`` (next offset
        to read) or, for a partition not named, from the beginning."""

    def poll(self, timeout_ms: int) -> list[Record]: ...

    def lag(self) -> int | None:
        """Records not yet read across all partitions (``None``: unknown yet)."""

    def topic_ids(self) -> dict[str, str | None]:
        """Each topic's id as the client last saw it (``None``: unknown);
        free, no request."""

    def ends(self) -> dict[Position, int | None]:
        """End offsets known from the last fetches (``None``: not known); free."""

    def close(self) -> None: ...


class Projection(Protocol):
    """A service's read model, maintained from events."""

    consumer: str  # key of its offsets and state rows
    topics: tuple[str, ...]
    #: CloudEvents types it reads (``smp.market.SaleRecorded.v1``), in their
    #: newest version: older stored versions are upcast to them. The other
    #: known types on its topics are counted as ignored without being decoded.
    event_types: frozenset[str]

    def apply(self, conn: Connection, events: Sequence[DecodedEvent]) -> int:
        """Apply a batch inside the caller's transaction; idempotent per
        event. Returns how many events had an effect on the read model (the
        rest were already applied or are not its concern)."""

    def reset(self, conn: Connection) -> None:
        """Drop every row of the read model (rebuild), inside the caller's transaction."""


@dataclass
class BatchOutcome:
    records: int = 0
    applied: int = 0
    ignored: int = 0  # known events the projection does not use
    skipped: int = 0  # unknown types or versions
    rejected: int = 0  # broken payloads


class Projector:
    """Runs one :class:`Projection` over one :class:`EventSource`."""

    def __init__(
        self,
        projection: Projection,
        source: EventSource,
        engine: Engine,
        *,
        heartbeat_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        codec: Codec = CONTRACTS,
    ) -> None:
        """``codec`` defaults to this build's contracts. A projection must list
        each type it reads in its newest version: an older one would never
        arrive (the codec upcasts it), so that is refused here."""
        stale = sorted(t for t in projection.event_types if codec.reads_as(t) != t)
        if stale:
            raise ValueError(f"{projection.consumer} reads {stale}: unknown, or read as a newer version")
        self.projection, self.source, self.engine, self._codec = projection, source, engine, codec
        self._heartbeat_s, self._clock = heartbeat_s, clock
        self._generation = -1
        self._topic_ids: dict[str, str] = {}
        self._last_heartbeat = float("-inf")
        self._stop = threading.Event()

    def request_stop(self, *_: Any) -> None:
        self._stop.set()

    def sync(self) -> None:
        """Seek the source to the stored offsets (start, rebuild, after a DB error)."""
        consumer = self.projection.consumer
        with self.engine.begin() as conn:
            self._generation = state.lock_generation(conn, consumer)
            offsets = state.read_offsets(conn, consumer)
            stored_ids = state.read_topic_ids(conn, consumer)
            found = check_topics(
                stored_ids, self.source.topic_ids(), stored_offsets=offsets, ends=self.source.ends(), adopt=True
            )
            if not found.clean:
                self._reset_topics(conn, found)
                offsets = state.read_offsets(conn, consumer)
                stored_ids = state.read_topic_ids(conn, consumer)
        self._topic_ids = stored_ids
        self.source.seek(offsets)
        log.info("%s: generation %d, resuming from %d stored offsets", consumer, self._generation, len(offsets))

    def _reset_topics(self, conn: Connection, found: TopicCheck) -> None:
        """Store what ``found`` asks for (in the caller's transaction) and
        say so once per lost topic."""
        for topic, reason in found.lost.items():
            log.warning(
                "%s: topic %s was lost by the broker and re-created (%s): replaying it from the start",
                self.projection.consumer,
                topic,
                reason,
            )
        state.reset_topics(conn, self.projection.consumer, found.lost, found.store)

    def _reset_and_sync(self, found: TopicCheck) -> None:
        """Reset the lost topics (one transaction, under the generation lock),
        then seek: what the source had buffered of them is dropped."""
        with self.engine.begin() as conn:
            state.lock_generation(conn, self.projection.consumer)
            self._reset_topics(conn, found)
        self.sync()

    def run(self) -> None:
        """Until :meth:`request_stop`; a lost database is waited for, not fatal."""
        self.sync()
        while not self._stop.is_set():
            try:
                self.run_once()
            except OperationalError as exc:
                log.warning(
                    "%s: database unavailable (%s); retrying from the stored offsets",
                    self.projection.consumer,
                    exc.orig or exc,
                )
                self._stop.wait(1.0)
                self._resync_when_possible()
        self.source.close()

    def _resync_when_possible(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync()
                return
            except OperationalError:
                self._stop.wait(1.0)

    def run_once(self, timeout_ms: int = 100) -> BatchOutcome:
        """Poll once and apply what came, or beat the heart when idle."""
        records = self.source.poll(timeout_ms)
        if not records:
            self._idle()
            return BatchOutcome()
        return self._apply(records)

    def _idle(self) -> None:
        if self._clock() - self._last_heartbeat < self._heartbeat_s:
            return
        self._last_heartbeat = self._clock()
        consumer = self.projection.consumer
        found = TopicCheck()
        with self.engine.begin() as conn:
            generation = state.lock_generation(conn, consumer)
            if generation == self._generation:
                found = check_topics(
                    self._topic_ids,
                    self.source.topic_ids(),
                    stored_offsets=state.read_offsets(conn, consumer),
                    ends=self.source.ends(),
                )
                if found.lost:
                    self._reset_topics(conn, found)
                state.record_heartbeat(conn, consumer, self.source.lag())
        if generation != self._generation or found.lost:
            self.sync()

    def _apply(self, records: list[Record]) -> BatchOutcome:
        found = check_topics(self._topic_ids, self.source.topic_ids())  # in memory: no query
        if found.lost:  # the batch may come from either topic: dropped, the topic replayed from its start
            self._reset_and_sync(found)
            return BatchOutcome()
        outcome = BatchOutcome(records=len(records))
        events: list[DecodedEvent] = []
        positions: dict[Position, int] = {}
        for record in records:
            positions[(record.topic, record.partition)] = record.offset + 1
            decoded = self.decode(record, outcome)
            if decoded is not None:
                events.append(decoded)
        consumer = self.projection.consumer
        with self.engine.begin() as conn:
            if state.lock_generation(conn, consumer) != self._generation:
                conn.rollback()
                self.sync()  # rebuilt meanwhile: this batch belongs to the old generation
                return BatchOutcome()
            outcome.applied = self.projection.apply(conn, events) if events else 0
            state.store_offsets(conn, consumer, positions)
            state.record_batch(
                conn,
                consumer,
                applied=len(events),
                ignored=outcome.ignored,
                skipped=outcome.skipped,
                rejected=outcome.rejected,
                lag_events=self.source.lag(),
                last_event_time=events[-1].time if events else None,
            )
        self._last_heartbeat = self._clock()
        return outcome

    def decode(self, record: Record, outcome: BatchOutcome) -> DecodedEvent | None:
        """The record's event if the projection reads its type; the rest is
        counted (ignored, skipped or rejected) and passed over."""
        if record.value is None:
            return None
        try:
            message = orjson.loads(record.value)
            event_type = message.get("type") if isinstance(message, dict) else None
            # What a stored type reads as: itself, or its newest version (upcasting).
            current = self._codec.reads_as(event_type) if isinstance(event_type, str) else None
            if current is None:
                raise UnknownEventType(str(event_type))
            if current not in self.projection.event_types:
                outcome.ignored += 1
                return None
            return self._codec.from_message(message)
        except UnknownEventType as exc:
            outcome.skipped += 1
            log.debug("%s[%d]@%d: skipped %s", record.topic, record.partition, record.offset, exc)
        except (MalformedEvent, orjson.JSONDecodeError) as exc:
            outcome.rejected += 1
            log.warning("%s[%d]@%d: rejected: %s", record.topic, record.partition, record.offset, exc)
        return None


class KafkaEventSource:
    """:class:`EventSource` on kafka-python, with partitions assigned by hand
    (no consumer group: the offsets live in the service's database, and a
    group join costs seconds on the embedded broker)."""

    def __init__(
        self,
        bootstrap_servers: str,
        topics: Sequence[str],
        *,
        client_id: str,
        max_poll_records: int = 2000,
        fetch_max_wait_ms: int = 100,
        topic_wait_s: float = 60.0,
    ) -> None:
        """``fetch_max_wait_ms``: how long the broker may take to answer a
        fetch. The embedded broker (Tansu 0.6) lists every stored batch of a
        partition before answering, which takes longer than 20 ms once a
        topic holds a million events; a fetch that times out comes back
        empty (figures in docs/measured.md). It costs at most that much
        latency per fetch on a quiet topic."""
        from kafka import KafkaConsumer

        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=None,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=max_poll_records,
            fetch_max_wait_ms=fetch_max_wait_ms,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            metadata_max_age_ms=5000,
        )
        self._topics = tuple(topics)
        self._topic_wait_s = topic_wait_s
        self._partitions = self._wait_for_partitions(topic_wait_s)

    def _wait_for_partitions(self, timeout_s: float) -> list[Any]:
        from kafka import TopicPartition

        deadline = time.monotonic() + timeout_s
        while True:
            found = {t: self._consumer.partitions_for_topic(t) for t in self._topics}
            missing = [t for t, parts in found.items() if not parts]
            if not missing:
                return [TopicPartition(t, p) for t, parts in found.items() for p in sorted(parts)]
            if time.monotonic() > deadline:
                raise RuntimeError(f"topics not found after {timeout_s:.0f}s: {missing} (is the ACL running?)")
            time.sleep(0.2)

    def seek(self, positions: dict[Position, int]) -> None:
        """Assign every partition the topics have now (a re-created topic may
        have another count) and seek; seeking drops what was buffered."""
        self._partitions = self._wait_for_partitions(self._topic_wait_s)
        self._consumer.assign(self._partitions)
        for tp in self._partitions:
            offset = positions.get((tp.topic, tp.partition))
            if offset is None:
                self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, offset)

    def poll(self, timeout_ms: int) -> list[Record]:
        batches = self._consumer.poll(timeout_ms=timeout_ms)
        return [Record(r.topic, r.partition, r.offset, r.value) for records in batches.values() for r in records]

    def lag(self) -> int | None:
        """From the high watermarks of the last fetch responses (free); a
        partition not fetched yet is asked for its end offset."""
        highs = {tp: self._consumer.highwater(tp) for tp in self._partitions}
        unknown = [tp for tp, high in highs.items() if high is None]
        if unknown:
            try:
                highs.update(self._consumer.end_offsets(unknown))
            except Exception:
                return None
        lag: int = sum(max(0, highs[tp] - self._consumer.position(tp)) for tp in self._partitions)  # kafka: untyped
        return lag

    def topic_ids(self) -> dict[str, str | None]:
        """From the client's cluster metadata (kafka-python 3.x keeps the ids
        of Metadata v10+ there; refreshed every ``metadata_max_age_ms``)."""
        return cluster_topic_ids(self._consumer, self._topics)

    def ends(self) -> dict[Position, int | None]:
        """High watermarks of the assigned partitions (nothing before the first seek)."""
        return {(tp.topic, tp.partition): self._consumer.highwater(tp) for tp in self._consumer.assignment()}

    def close(self) -> None:
        self._consumer.close()
