"""The sync-back loop: ``smp.market.v1`` -> legacy rows, bad events -> ``acl.dlq``.

Each poll is one batch and one legacy transaction (:mod:`acl.syncback.store`):
events whose CloudEvents ``source`` is not the market's outbox are passed
over (their offsets still move); the market's events are decoded, reverse
translated (:mod:`acl.syncback.reverse`) and applied, each in its own
savepoint; the batch's offsets are stored in the same transaction.

An event that cannot be applied (malformed, not a market event sync-back
writes, numbers that do not add up, a row that is not there, a foreign key
that fails) becomes a dead letter with the reason, and the stream goes on.
Dead letters are acknowledged by the broker *before* the transaction
commits: a crash in between applies nothing and dead-letters again.

A sale whose listing is not in ``smp_lst`` yet waits: the listing's events
are keyed by the listing and may sit on a partition read later. That
partition stops at the sale (later records of it are read again) and is
retried for up to ``dependency_wait_s``; then the sale is dead-lettered.

Offsets live in the legacy database, so the consumer has no group: it is
assigned every partition and seeks to the stored offsets at start. Run one
process (one writer of the legacy market tables at a time).

A broker that lost its topics (the embedded one keeps them in memory) comes
back with the topic re-created under a new id, possibly already longer than
the stored offsets: :meth:`SyncbackLoop.check_topic` compares the id stored
with the offsets to the broker's (at start, before each batch is applied,
and every ``check_every_s`` when idle, with "stored offset beyond the end"
as well); on a change the offsets go back to the start in one transaction
with the new id, the batch in hand is dropped, the source rewinds, and
``topic_resets`` counts it (see
:mod:`new_services.platform.topic_identity`). The replay is idempotent: the
applied ledger skips every event id already applied, and a market event
whose id is new writes its rows with ``ON CONFLICT (id) DO NOTHING`` plus a
same-row check.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg

from acl.dlq import dead_letter_for
from acl.ports import EventPublisher, SourceRecord
from acl.syncback import MARKET_SOURCE
from acl.syncback.reverse import RowWrite, reverse
from acl.syncback.store import ApplyError, LegacyStore, MissingDependency
from acl.topics import DLQ_TOPIC
from new_services.contracts.codec import CONTRACTS, parse
from new_services.platform.topic_identity import check_topics, cluster_topic_ids

log = logging.getLogger("acl.syncback")


class EventSource(Protocol):
    """The market topic's partitions, read without a consumer group."""

    def poll(self, timeout_ms: int) -> Sequence[SourceRecord]: ...
    def seek(self, partition: int, offset: int) -> None: ...
    def rewind(self) -> None:
        """Every partition the topic has now, from its beginning."""

    def topic_id(self) -> str | None:
        """The topic's id as the client last saw it (None: unknown); free."""

    def ends(self) -> dict[int, int | None]:
        """partition -> end offset known from the last fetches; free."""

    def close(self) -> None: ...


@dataclass
class Counters:
    applied: int = 0
    duplicates: int = 0
    foreign: int = 0
    dead_lettered: int = 0
    waiting: int = 0
    topic_resets: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Planned:
    record: SourceRecord
    event_id: str = ""
    writes: list[RowWrite] = field(default_factory=list)
    error: BaseException | None = None


def plan(record: SourceRecord) -> _Planned | None:
    """What one record asks for: ``None`` if it is not the market's (skip),
    its writes, or the error that makes it a dead letter."""
    try:
        message = parse(record.value or b"")
        if message.get("source") != MARKET_SOURCE:
            return None
        decoded = CONTRACTS.from_message(message)
        return _Planned(record, decoded.id, reverse(decoded.event))
    except Exception as exc:
        return _Planned(record, error=exc)


class SyncbackLoop:
    """Market events in, legacy rows (or dead letters) out."""

    def __init__(
        self,
        source: EventSource,
        store: LegacyStore,
        dead_letters: EventPublisher,
        *,
        topic: str,
        dependency_wait_s: float = 30.0,
        check_every_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source, self.store, self.dead_letters = source, store, dead_letters
        self.topic = topic
        self.check_every_s = check_every_s
        self._topic_id: str | None = None
        self._next_check = float("-inf")
        self.dependency_wait_s = dependency_wait_s
        self._clock = clock
        self.counters = Counters()
        #: (partition, offset) of a sale waiting for its listing -> since when
        self._waiting_since: dict[tuple[int, int], float] = {}

    def run_once(self, timeout_ms: int = 200) -> int:
        """One poll, one transaction; returns the number of records consumed
        (those after a waiting sale on its partition are read again)."""
        records = self.source.poll(timeout_ms)
        if not records:
            if self._clock() >= self._next_check:
                self._next_check = self._clock() + self.check_every_s
                self.check_topic(with_offsets=True)
            return 0
        if self.check_topic():  # the batch may come from either topic: dropped, replayed from the start
            return 0
        planned = [plan(record) for record in records]
        event_ids = [p.event_id for p in planned if p is not None and p.error is None]
        blocked: dict[int, int] = {}
        offsets: dict[int, int] = {}
        letters: list[tuple[SourceRecord, BaseException]] = []
        with self.store.transaction(event_ids) as tx:
            for record, item in zip(records, planned, strict=True):
                if record.partition in blocked:
                    continue
                error = item.error if item is not None else None
                if item is None:
                    self.counters.foreign += 1
                elif error is None:
                    try:
                        if tx.apply(item.event_id, item.writes):
                            self.counters.applied += 1
                        else:
                            self.counters.duplicates += 1
                        self._waiting_since.pop((record.partition, record.offset), None)
                    except MissingDependency as exc:
                        if self._keeps_waiting(record):
                            blocked[record.partition] = record.offset
                            continue
                        error = exc
                    except (ApplyError, psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
                        error = exc
                if error is not None:
                    letters.append((record, error))
                offsets[record.partition] = record.offset + 1
            tx.store_offsets(self.topic, offsets)
            self._publish_dead_letters(letters)  # acknowledged before the rows and offsets commit
        for partition, offset in blocked.items():
            self.source.seek(partition, offset)
        self.counters.waiting = len(blocked)
        if blocked and not offsets:
            time.sleep(0.05)  # only waiting sales: do not spin on the broker and the database
        return sum(1 for r in records if r.partition not in blocked or r.offset < blocked[r.partition])

    def check_topic(self, *, adopt: bool = False, with_offsets: bool = False) -> bool:
        """Is the topic still the one the stored offsets were read from? If
        not (or, with ``adopt``, at start, if no id is stored yet) store the
        new id, in one transaction with the reset of the offsets, and
        rewind. True if the topic was lost. ``with_offsets`` also compares
        the stored offsets with the known ends (one query)."""
        if adopt:
            self._topic_id = self.store.stored_topic_id(self.topic)
        stored_ids = {self.topic: self._topic_id} if self._topic_id is not None else {}
        offsets = self.store.stored_offsets(self.topic) if with_offsets or adopt else {}
        found = check_topics(
            stored_ids,
            {self.topic: self.source.topic_id()},
            stored_offsets={(self.topic, p): o for p, o in offsets.items()},
            ends={(self.topic, p): e for p, e in self.source.ends().items()},
            adopt=adopt,
        )
        if found.clean:
            return False
        lost = self.topic in found.lost
        if lost:
            log.warning(
                "topic %s was lost by the broker and re-created (%s): replaying it from the start",
                self.topic,
                found.lost[self.topic],
            )
        self._topic_id = found.store.get(self.topic)
        with self.store.transaction([]) as tx:
            tx.reset_topic(self.topic, lost=lost, topic_id=self._topic_id)
        if lost:
            self.counters.topic_resets += 1
            self._waiting_since.clear()
            self.source.rewind()
        return lost

    def _keeps_waiting(self, record: SourceRecord) -> bool:
        key = (record.partition, record.offset)
        since = self._waiting_since.setdefault(key, self._clock())
        if self._clock() - since < self.dependency_wait_s:
            return True
        del self._waiting_since[key]
        return False

    def _publish_dead_letters(self, letters: list[tuple[SourceRecord, BaseException]]) -> None:
        for record, error in letters:
            log.warning("dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, error)
            self.dead_letters.send(DLQ_TOPIC, record.key or b"", dead_letter_for(record, error).to_json())
        if letters:
            self.dead_letters.flush(30.0)
            self.counters.dead_lettered += len(letters)

    def run(self, stop: threading.Event, *, report_every_s: float = 10.0) -> None:
        """Until ``stop`` is set; logs the counters when they moved."""
        last: dict[str, int] = {}
        next_report = self._clock() + report_every_s
        while not stop.is_set():
            self.run_once()
            if self._clock() >= next_report:
                last = self.report(last)
                next_report = self._clock() + report_every_s
        self.report(last)

    def report(self, last: dict[str, int] | None = None) -> dict[str, int]:
        now = self.counters.as_dict()
        if now != last:
            log.info("syncback status: %s", " ".join(f"{k}={v}" for k, v in now.items()))
        return now


class KafkaEventSource(EventSource):
    """kafka-python, no group (``enable_auto_commit=False``): every partition
    of ``topic`` assigned, each at the offset stored in the legacy database
    (or the beginning)."""

    def __init__(self, bootstrap_servers: str, topic: str, stored: dict[int, int], *, max_poll_records: int) -> None:
        from kafka import TopicPartition

        from acl.kafka_io import make_consumer

        self.topic = topic
        self._tp = TopicPartition
        self._consumer: Any = make_consumer(
            bootstrap_servers, group_id=None, client_id="strangler-syncback", max_poll_records=max_poll_records
        )
        self._assign(stored)

    def _assign(self, stored: dict[int, int]) -> None:
        """Every partition the topic has now, at ``stored`` offsets or the beginning."""
        deadline = time.monotonic() + 30
        while not (partitions := self._consumer.partitions_for_topic(self.topic)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {self.topic} has no partitions")
            time.sleep(0.2)
        tps = [self._tp(self.topic, p) for p in sorted(partitions)]
        self._consumer.assign(tps)
        for tp in tps:
            if tp.partition in stored:
                self._consumer.seek(tp, stored[tp.partition])
            else:
                self._consumer.seek_to_beginning(tp)
        log.info("reading %s from %s", self.topic, {tp.partition: stored.get(tp.partition, "beginning") for tp in tps})

    def rewind(self) -> None:
        self._assign({})

    def topic_id(self) -> str | None:
        return cluster_topic_ids(self._consumer, [self.topic])[self.topic]

    def ends(self) -> dict[int, int | None]:
        return {tp.partition: self._consumer.highwater(tp) for tp in self._consumer.assignment()}

    def poll(self, timeout_ms: int) -> Sequence[SourceRecord]:
        batches = self._consumer.poll(timeout_ms=timeout_ms)
        return [record for records in batches.values() for record in records]

    def seek(self, partition: int, offset: int) -> None:
        self._consumer.seek(self._tp(self.topic, partition), offset)

    def close(self) -> None:
        self._consumer.close()
