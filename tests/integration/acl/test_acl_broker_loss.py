"""The ACL's change source (its Kafka consumer group, on the real broker)
when the embedded broker restarts under it: the legacy topic comes back
under a new id, refilled past the old positions before the consumer looks
again (the relay's re-snapshot). The source says so instead of returning
records fetched from its old positions (which would skip the new topic's
head), and a fresh consumer of the group reads every record of the new
topic."""

from __future__ import annotations

import pytest

from acl.kafka_io import KafkaChangeSource, TopicsRecreated, make_producer
from acl.topics import ensure_topics
from local_stack.kafka import EmbeddedKafka
from local_stack.processes import wait_until

TOPIC = "legacy.public.smp_sale"


def publish(kafka: EmbeddedKafka, numbers: range) -> None:
    producer = make_producer(kafka.bootstrap_servers, "test-acl-loss")
    for n in numbers:
        producer.send(TOPIC, key=b"k", value=str(n).encode())  # one key: one partition, in order
    producer.flush()


def test_a_re_created_topic_stops_the_source_and_a_fresh_one_reads_it_whole(own_kafka: EmbeddedKafka) -> None:
    ensure_topics(own_kafka.bootstrap_servers, {TOPIC: 1})
    publish(own_kafka, range(1, 11))
    source = KafkaChangeSource(own_kafka.bootstrap_servers, [TOPIC], group_id="acl-loss", client_id="acl-loss")
    try:
        assert read(source, 10, "the first ten records") == list(range(1, 11))
        own_kafka.stop()
        own_kafka.start()
        ensure_topics(own_kafka.bootstrap_servers, {TOPIC: 1})
        publish(own_kafka, range(101, 141))  # longer than the old positions before the source polls again
        with pytest.raises(TopicsRecreated, match=TOPIC):
            wait_until(lambda: source.poll(200) and False, timeout=60, what="the source to see the new topic")
        assert source.settle_before_leaving(), "the client's join of the new group never finished"
    finally:
        source.close()
    fresh = KafkaChangeSource(own_kafka.bootstrap_servers, [TOPIC], group_id="acl-loss", client_id="acl-loss")
    try:
        assert read(fresh, 40, "the forty records of the re-created topic") == list(range(101, 141))
    finally:
        fresh.close()


def read(source: KafkaChangeSource, count: int, what: str) -> list[int]:
    seen: list[int] = []

    def enough() -> bool:
        seen.extend(int(r.value or b"0") for r in source.poll(200))
        return len(seen) >= count

    wait_until(enough, timeout=60, what=what)
    return seen
