"""The market's outbox through a real broker (Tansu, as ``strangler up``
runs it): structured CloudEvents with the content-type header, keyed and
partitioned as the ACL keys and partitions them, in order; and its own
projector reading them back skips them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition
from market_support import acl_event, listing
from sqlalchemy import Engine, text
from test_market_writes import BUYER, CLOCK, monolith, run, seed, writes

from acl.kafka_io import Publisher
from acl.topics import DOMAIN_PARTITIONS, ensure_topics
from local_stack.kafka import EmbeddedKafka
from local_stack.processes import wait_until
from new_services.market.adapters.relay import KafkaPublisher, OutboxRelay
from new_services.market.service_layer.projection import MarketProjection, MarketProjector
from new_services.platform import state
from new_services.platform.consumer import KafkaEventSource

TOPICS = ("smp.market.v1", "smp.players.v1", "smp.catalog.v1")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("market-kafka")
    with EmbeddedKafka(root / "kafka") as kafka:
        ensure_topics(kafka.bootstrap_servers, dict.fromkeys(TOPICS, DOMAIN_PARTITIONS))
        yield kafka.bootstrap_servers


def read_all(bootstrap: str, topic: str, expected: int) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        records: list[Any] = []

        def enough() -> bool:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
            return len(records) >= expected

        wait_until(enough, timeout=30, what=f"{expected} records on {topic}")
        return records
    finally:
        consumer.close()


def test_the_outbox_reaches_the_topic_as_the_acl_would_publish_it(
    broker: str, market_dsn: str, market_engine: Engine
) -> None:
    seed(market_engine)
    run(market_dsn, lambda store: writes(store, monolith()).buy(BUYER, 40, 3))
    publisher = KafkaPublisher(broker)
    with psycopg.connect(market_dsn) as conn:
        assert OutboxRelay(market_dsn, publisher).relay_once(conn) == 3
    records = read_all(broker, "smp.market.v1", 3)
    by_key: dict[bytes, list[Any]] = {}
    for record in records:
        by_key.setdefault(record.key, []).append(record)
    assert sorted(by_key) == [b"listings/40", b"sales/1"]
    types = [orjson.loads(r.value)["type"] for r in by_key[b"listings/40"]]
    assert types == ["smp.market.ListingAmended.v1", "smp.market.ListingFilled.v1"]  # in order, one partition
    assert all(dict(r.headers)["content-type"] == b"application/cloudevents+json" for r in records)

    acl = Publisher(broker, "test-acl")  # the ACL's own producer: the same key lands on the same partition
    acl.send("smp.market.v1", b"listings/40", acl_event(listing(40)))
    acl.flush()
    again = read_all(broker, "smp.market.v1", 4)
    partitions = {r.partition for r in again if r.key == b"listings/40"}
    assert len(partitions) == 1


def test_its_own_projector_skips_what_it_published(broker: str, market_dsn: str, market_engine: Engine) -> None:
    seed(market_engine)
    run(market_dsn, lambda store: writes(store, monolith()).buy(BUYER, 40, 3))
    with psycopg.connect(market_dsn) as conn:
        assert OutboxRelay(market_dsn, KafkaPublisher(broker)).relay_once(conn) == 3
    with market_engine.connect() as conn:
        before = state.read_status(conn, "market")
    assert before is not None
    source = KafkaEventSource(broker, TOPICS, client_id="test-market")
    projector = MarketProjector(MarketProjection(CLOCK), source, market_engine)
    projector.sync()

    def drained() -> bool:
        projector.run_once(200)
        return source.lag() == 0

    wait_until(drained, timeout=30, what="the projector caught up")
    with market_engine.connect() as conn:
        after = state.read_status(conn, "market")
        listing_40 = conn.execute(text("SELECT quantity_remaining, status FROM listings WHERE listing_id = 40")).one()
        sales = conn.execute(text("SELECT count(*) FROM sales")).scalar()
    assert after is not None and after.events_ignored - before.events_ignored >= 3  # its own three, at least
    assert tuple(listing_40) == (0, "F") and sales == 1  # nothing re-applied, nothing regressed
