"""The ACL's change source (its Kafka consumer group, on the real broker)
when the embedded broker restarts under it: the legacy topic comes back
under a new id, refilled past the old positions before the consumer looks
again (the relay's re-snapshot). Every record of the new topic must be
delivered; the client's old positions would skip its head."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from acl.kafka_io import KafkaChangeSource, make_producer
from acl.topics import ensure_topics
from local_stack.kafka import EmbeddedKafka
from local_stack.processes import wait_until

TOPIC = "legacy.public.smp_sale"


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[EmbeddedKafka]:
    broker = EmbeddedKafka(tmp_path / "kafka").start()
    try:
        yield broker
    finally:
        gc.collect()  # librdkafka producers sit in cycles: let them stop before the broker
        broker.stop()


def publish(kafka: EmbeddedKafka, numbers: range) -> None:
    producer = make_producer(kafka.bootstrap_servers, "test-acl-loss")
    for n in numbers:
        producer.send(TOPIC, key=b"k", value=str(n).encode())  # one key: one partition, in order
    producer.flush()


def test_a_re_created_topic_is_read_again_from_its_start(kafka: EmbeddedKafka) -> None:
    ensure_topics(kafka.bootstrap_servers, {TOPIC: 1})
    publish(kafka, range(1, 11))
    source = KafkaChangeSource(kafka.bootstrap_servers, [TOPIC], group_id="acl-loss", client_id="acl-loss")
    seen: list[int] = []

    def read_until(count: int, what: str) -> None:
        def enough() -> bool:
            seen.extend(int(r.value or b"0") for r in source.poll(200))
            return len(seen) >= count

        wait_until(enough, timeout=60, what=what)

    try:
        read_until(10, "the first ten records")
        assert seen == list(range(1, 11))
        kafka.stop()
        kafka.start()
        ensure_topics(kafka.bootstrap_servers, {TOPIC: 1})
        publish(kafka, range(101, 141))  # longer than the old positions before the source polls again
        read_until(50, "the forty records of the re-created topic")
        assert seen[10:] == list(range(101, 141)), seen[10:]
        assert source.topic_resets == 1
    finally:
        source.close()
