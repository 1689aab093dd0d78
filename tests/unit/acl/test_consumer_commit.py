"""The ACL consumer commits only what it has published.

A batch that was polled but never acknowledged by the broker (``flush``
raised, ``send`` raised) must not be committed: the group would skip it on
restart and its events would be lost. A clean stop (``request_stop``) still
commits what was published.

The Kafka clients are replaced by small fakes through the constructor's
seams; the fake consumer keeps positions the way kafka-python does (a poll
moves the position past the batch; ``commit``/``commit_async`` without
arguments commit the current positions).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from acl.consumer import AclConsumer
from acl.kafka_io import PublishError
from acl.settings import ConsumerSettings

TOPIC = "legacy.public.smp_sale"


@dataclass(frozen=True)
class TopicPartition:
    topic: str
    partition: int


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def batch(start: int, count: int) -> dict[TopicPartition, list[Record]]:
    # Undecodable values: the translator turns each into a dead letter, so
    # every record yields one message to publish.
    return {TopicPartition(TOPIC, 0): [Record(TOPIC, 0, o, b"k", b"not json") for o in range(start, start + count)]}


class FakeConsumer:
    """Duck-types the kafka-python consumer the ACL uses."""

    def __init__(self, batches: list[dict[TopicPartition, list[Record]]], on_empty: Any) -> None:
        self._batches = list(batches)
        self._on_empty = on_empty
        self.position = 0  # next offset of partition 0
        self.committed: int | None = None
        self.closed = False

    def subscribe(self, topics: list[str]) -> None:
        self.topics = topics

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Record]]:
        if not self._batches:
            self._on_empty()
            return {}
        polled = self._batches.pop(0)
        self.position = max(r.offset for rs in polled.values() for r in rs) + 1
        return polled

    def commit(self) -> None:
        self.committed = self.position

    def commit_async(self, callback: Any = None) -> None:
        self.committed = self.position

    def close(self) -> None:
        self.closed = True


class FakeProducer:
    """Duck-types :class:`acl.kafka_io.Publisher`; fails on demand."""

    def __init__(self, *, fail_flush_at: int | None = None, fail_send: bool = False) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []
        self.flushes = 0
        self._fail_flush_at = fail_flush_at
        self._fail_send = fail_send
        self.closed = False

    def send(self, topic: str, key: bytes | None = None, value: bytes | None = None) -> None:
        if self._fail_send:
            raise RuntimeError("local queue broken")
        self.sent.append((topic, key, value))

    def flush(self, timeout: float = 30.0) -> None:
        self.flushes += 1
        if self._fail_flush_at is not None and self.flushes >= self._fail_flush_at:
            raise PublishError("3 records not delivered within 30s")

    def close(self, timeout: float = 10.0) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    """``run`` tunes the collector for a long-lived process; undo it."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def make_app(batches: list[dict[TopicPartition, list[Record]]], producer: FakeProducer,
             *, commit_interval_s: float = 0.0) -> tuple[AclConsumer, FakeConsumer]:
    holder: dict[str, FakeConsumer] = {}
    app = AclConsumer(
        ConsumerSettings(bootstrap_servers="fake:9092", commit_interval_s=commit_interval_s),
        make_consumer=lambda *a, **kw: holder["consumer"],
        make_producer=lambda *a, **kw: producer,
        ensure_topics=lambda *a, **kw: None,
    )
    # Once the scripted batches are drained, the stream is quiet: stop cleanly.
    holder["consumer"] = FakeConsumer(batches, on_empty=app.request_stop)
    return app, holder["consumer"]


def test_a_batch_whose_flush_failed_is_not_committed() -> None:
    producer = FakeProducer(fail_flush_at=1)
    app, consumer = make_app([batch(0, 3)], producer)
    with pytest.raises(PublishError):
        app.run()
    assert consumer.committed is None, "the unpublished batch was committed: it is lost on restart"
    assert consumer.closed and producer.closed


@pytest.mark.parametrize("commit_interval_s", [0.0, 3600.0], ids=["commit-each-batch", "throttled"])
def test_only_the_published_batches_are_committed_when_a_later_flush_fails(commit_interval_s: float) -> None:
    producer = FakeProducer(fail_flush_at=2)
    app, consumer = make_app([batch(0, 3), batch(3, 3)], producer, commit_interval_s=commit_interval_s)
    with pytest.raises(PublishError):
        app.run()
    # Offsets 0-2 were published; 3-5 were polled but never acknowledged.
    expected = 3 if commit_interval_s == 0 else None  # throttled: not yet committed, replayed (same ids)
    assert consumer.committed == expected


def test_a_crash_while_sending_commits_nothing() -> None:
    producer = FakeProducer(fail_send=True)
    app, consumer = make_app([batch(0, 2)], producer)
    with pytest.raises(RuntimeError, match="local queue broken"):
        app.run()
    assert consumer.committed is None
    assert consumer.closed and producer.closed


def test_a_clean_stop_commits_what_was_published() -> None:
    producer = FakeProducer()
    app, consumer = make_app([batch(0, 3), batch(3, 2)], producer, commit_interval_s=3600)
    assert app.run() == 0
    assert len(producer.sent) == 5
    assert consumer.committed == 5
    assert app.processed == 5
    assert consumer.closed and producer.closed
