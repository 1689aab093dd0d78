"""The sync-back loop over fakes of its three ports: which records become
writes, dead letters or nothing; what offsets are stored; a sale that comes
before its listing waits (its partition is read again) and is dead-lettered
only after the wait."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from acl.syncback import MARKET_SOURCE
from acl.syncback.loop import EventSource, SyncbackLoop
from acl.syncback.reverse import RowWrite
from acl.syncback.store import ApplyError, MissingDependency
from new_services.contracts.codec import CONTRACTS
from new_services.contracts.events import DomainEvent, ListingFilled, ListingOpened, SaleRecorded
from new_services.contracts.values import Money
from tests.unit.acl.test_consumer_commit import FakePublisher, Record

TOPIC = "smp.market.v1"
T0 = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)


def message(event: DomainEvent, source: str = MARKET_SOURCE, event_id: str | None = None) -> bytes:
    return CONTRACTS.encode(event, id=event_id or str(uuid.uuid4()), source=source, time=T0)


def listing(listing_id: int) -> ListingOpened:
    return ListingOpened(
        listing_id=listing_id,
        seller_id=1,
        item_id=1,
        quantity=5,
        quantity_remaining=5,
        unit_price=Money.from_copper(10),
        opened_at=T0,
    )


def sale(sale_id: int, listing_id: int) -> SaleRecorded:
    return SaleRecorded(
        sale_id=sale_id,
        listing_id=listing_id,
        buyer_id=2,
        seller_id=1,
        item_id=1,
        quantity=1,
        unit_price=Money.from_copper(10),
        total=Money.from_copper(10),
        fee=Money.from_copper(0),
        seller_proceeds=Money.from_copper(10),
        sold_at=T0,
    )


class FakeSource(EventSource):
    """Hands out the unread records of each partition, like a consumer
    whose position a seek moves back."""

    def __init__(self, records: list[Record]) -> None:
        self.records = records
        self.position: dict[int, int] = {}

    def poll(self, timeout_ms: int) -> Sequence[Record]:
        out = [r for r in self.records if r.offset >= self.position.get(r.partition, 0)]
        for r in out:
            self.position[r.partition] = r.offset + 1
        return out

    def seek(self, partition: int, offset: int) -> None:
        self.position[partition] = offset

    def rewind(self) -> None:
        self.position = {}

    def topic_id(self) -> str | None:
        return self.id

    def ends(self) -> dict[int, int | None]:
        return {}

    def close(self) -> None:
        pass

    id: str | None = None


class FakeTransaction:
    def __init__(self, db: FakeStore) -> None:
        self.db = db

    def apply(self, event_id: str, writes: Sequence[RowWrite]) -> bool:
        if event_id in self.db.applied:
            return False
        for write in writes:
            if write.requires and write.requires not in self.db.rows:
                raise MissingDependency(f"{write.requires} missing")
            if write.action == "update" and (write.table, write.id) not in self.db.rows:
                raise ApplyError(f"{write.table} has no row {write.id} to update")
        for write in writes:
            self.db.rows[(write.table, write.id)] = dict(write.values)
        self.db.applied.add(event_id)
        return True

    def store_offsets(self, topic: str, offsets: dict[int, int]) -> None:
        self.db.offsets.update(offsets)

    def reset_topic(self, topic: str, *, lost: bool, topic_id: str | None) -> None:
        if lost:
            self.db.offsets.clear()
        self.db.topic_id = topic_id


class FakeStore:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, int], dict[str, Any]] = {}
        self.applied: set[str] = set()
        self.offsets: dict[int, int] = {}
        self.markers: list[list[str]] = []
        self.topic_id: str | None = None

    def stored_offsets(self, topic: str) -> dict[int, int]:
        return dict(self.offsets)

    def stored_topic_id(self, topic: str) -> str | None:
        return self.topic_id

    @contextmanager
    def transaction(self, event_ids: list[str]) -> Iterator[FakeTransaction]:
        self.markers.append(event_ids)
        yield FakeTransaction(self)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_loop(records: list[Record], wait_s: float = 30.0) -> tuple[SyncbackLoop, FakeStore, FakePublisher, Clock]:
    store, publisher, clock = FakeStore(), FakePublisher([]), Clock()
    loop = SyncbackLoop(
        FakeSource(records),
        store,  # type: ignore[arg-type]
        publisher,
        topic=TOPIC,
        dependency_wait_s=wait_s,
        clock=clock,
    )
    return loop, store, publisher, clock


def test_market_events_are_applied_others_passed_over_and_offsets_stored():
    records = [
        Record(TOPIC, 0, 0, b"listings/1", message(listing(1))),
        Record(TOPIC, 0, 1, b"listings/2", message(listing(2), source="/strangler/acl/legacy-smp")),
        Record(TOPIC, 1, 0, b"listings/1", message(ListingFilled(listing_id=1, closed_at=T0))),
    ]
    loop, store, publisher, _ = make_loop(records)
    assert loop.run_once() == 3
    assert set(store.rows) == {("smp_lst", 1)} and store.rows[("smp_lst", 1)]["sts"] == "F"
    assert store.offsets == {0: 2, 1: 1}
    assert len(store.markers[0]) == 2, "the marker names the events it applies, not the ACL's"
    assert publisher.sent == []
    assert (loop.counters.applied, loop.counters.foreign) == (2, 1)


def test_the_same_event_id_twice_applies_once():
    event_id = str(uuid.uuid4())
    records = [
        Record(TOPIC, 0, 0, b"listings/1", message(listing(1), event_id=event_id)),
        Record(TOPIC, 0, 1, b"listings/1", message(listing(1), event_id=event_id)),
    ]
    loop, store, _, _ = make_loop(records)
    loop.run_once()
    assert (loop.counters.applied, loop.counters.duplicates) == (1, 1)
    assert store.applied == {event_id} and store.offsets == {0: 2}


def test_bad_events_are_dead_lettered_with_the_reason_and_the_next_applies():
    broken = replace(sale(9, 1), total=Money.from_copper(11))
    records = [
        Record(TOPIC, 0, 0, b"sales/9", message(broken)),
        Record(TOPIC, 0, 1, b"x", b"not json"),
        Record(TOPIC, 0, 2, b"listings/7", message(ListingFilled(listing_id=7, closed_at=T0))),
        Record(TOPIC, 0, 3, b"listings/3", message(listing(3))),
    ]
    loop, store, publisher, _ = make_loop(records)
    loop.run_once()
    reasons = [value for _, _, value, _ in publisher.sent]
    assert len(reasons) == 3 and all(topic == "acl.dlq" for topic, *_ in publisher.sent)
    assert b"total 11 cp != quantity 1" in reasons[0] and b"not JSON" in reasons[1]
    assert b"smp_lst has no row 7" in reasons[2]
    assert ("smp_lst", 3) in store.rows and store.offsets == {0: 4}


def test_a_sale_before_its_listing_waits_and_its_partition_is_read_again():
    records = [
        Record(TOPIC, 0, 0, b"sales/5", message(sale(5, 1))),
        Record(TOPIC, 0, 1, b"sales/6", message(sale(6, 1))),
    ]
    loop, store, publisher, _ = make_loop(records)
    loop.run_once()
    assert store.rows == {} and store.offsets == {} and loop.counters.waiting == 1
    loop.source.records.append(Record(TOPIC, 1, 0, b"listings/1", message(listing(1))))  # type: ignore[attr-defined]
    loop.run_once()  # the listing (other partition) arrives; the sale is read again
    loop.run_once()
    assert {("smp_sale", 5), ("smp_sale", 6), ("smp_lst", 1)} <= set(store.rows)
    assert store.offsets == {0: 2, 1: 1} and publisher.sent == []
    assert loop._waiting_since == {}, "a sale that waited and was applied is still remembered"


def test_a_sale_whose_listing_never_comes_is_dead_lettered_after_the_wait():
    loop, store, publisher, clock = make_loop([Record(TOPIC, 0, 0, b"sales/5", message(sale(5, 1)))], wait_s=30)
    loop.run_once()
    assert publisher.sent == []
    clock.now = 31.0
    loop.run_once()
    [(topic, _, value, _)] = publisher.sent
    assert topic == "acl.dlq" and b"missing" in value and store.offsets == {0: 1}


def test_a_recreated_topic_drops_the_batch_and_replays_from_the_start() -> None:
    """The broker lost the topic and re-created it (new id): the batch in
    hand may come from either topic, so nothing of it is applied; the
    offsets go back to the start with the new id and the topic is read again."""
    records = [Record(TOPIC, 0, n, b"k", message(listing(n))) for n in range(3)]
    source, store = FakeSource(records), FakeStore()
    loop = SyncbackLoop(source, store, FakePublisher([]), topic=TOPIC)  # type: ignore[arg-type]
    source.id = "old"
    assert loop.check_topic(adopt=True) is False
    assert store.topic_id == "old"
    loop.run_once()
    assert store.offsets == {0: 3}
    source.id = "new"
    source.records = [Record(TOPIC, 0, n, b"k", message(listing(n + 10))) for n in range(5)]
    source.position = {0: 3}  # the client went on at the old position
    assert loop.run_once() == 0
    assert (store.offsets, store.topic_id, loop.counters.topic_resets) == ({}, "new", 1)
    assert loop.run_once() == 5  # from the start of the new topic
    assert store.offsets == {0: 5}
