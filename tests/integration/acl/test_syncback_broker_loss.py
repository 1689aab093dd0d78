"""Sync-back (in process, on the real broker and the legacy database) when
the embedded broker restarts under it: the market topic comes back under a
new id and is refilled past the offsets sync-back stored before it
notices. Sync-back must replay it from the start (no market event skipped)
and apply each event once."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from acl_stack_helpers import migrated_database
from test_syncback import MARKET, Market, opened

from acl.kafka_io import make_producer
from acl.syncback.loop import KafkaEventSource, SyncbackLoop
from acl.syncback.store import LegacyStore
from acl.topics import DLQ_TOPIC, DOMAIN_PARTITIONS, ensure_topics
from local_stack.kafka import EmbeddedKafka
from local_stack.postgres import EmbeddedPostgres
from local_stack.processes import wait_until


@pytest.fixture
def legacy_dsn(postgres_server: EmbeddedPostgres) -> str:
    dsn = migrated_database(postgres_server, "syncback_loss")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO smp_plyr (id, usr_id, nm, eml, sts, crt_dt, xtr) VALUES"
            " (1, 1, 'seller', '', 'A', localtimestamp, '')"
        )
        conn.execute(
            "INSERT INTO smp_itm (id, sku, nm, cat, rar, act, crt_dt, xtr)"
            " VALUES (1, 'CNS-0001', 'Potion', 'CS', 0, 'Y', localtimestamp, '')"
        )
    return dsn


def topics(kafka: EmbeddedKafka) -> None:
    ensure_topics(kafka.bootstrap_servers, {MARKET: DOMAIN_PARTITIONS, DLQ_TOPIC: 1})


def listings(dsn: str) -> set[int]:
    with psycopg.connect(dsn) as conn:
        return {int(r[0]) for r in conn.execute("SELECT id FROM smp_lst").fetchall()}


def test_a_restarted_broker_is_replayed_from_the_start_even_when_longer_than_the_stored_offsets(
    own_kafka: EmbeddedKafka, legacy_dsn: str
) -> None:
    topics(own_kafka)
    first = Market(own_kafka.bootstrap_servers).publish(*(opened(n) for n in range(1, 13)))
    store = LegacyStore(legacy_dsn)
    store.prepare()
    source = KafkaEventSource(own_kafka.bootstrap_servers, MARKET, store.stored_offsets(MARKET), max_poll_records=500)
    loop = SyncbackLoop(source, store, make_producer(own_kafka.bootstrap_servers, "test-syncback"), topic=MARKET)
    loop.check_topic(adopt=True)
    old_id = store.stored_topic_id(MARKET)
    assert old_id is not None

    def step_until(expected: set[int], what: str) -> None:
        wait_until(lambda: loop.run_once(100) >= 0 and listings(legacy_dsn) == expected, timeout=30, what=what)

    step_until(set(range(1, 13)), "the first 12 listings")
    assert sum(store.stored_offsets(MARKET).values()) == 12

    own_kafka.stop()
    own_kafka.start()
    topics(own_kafka)
    # The new topic, before sync-back looks: new market writes first, the
    # outbox redelivering two old events (same ids), then the ACL's
    # re-snapshot of the legacy rows (not the market's: passed over).
    market = Market(own_kafka.bootstrap_servers)
    market.publish(*(opened(n) for n in range(13, 61)))
    market.publish(*((first[i], opened(i + 1)) for i in (0, 1)))
    market.publish(*((str(uuid.uuid4()), opened(n)) for n in range(1, 13)), source="/strangler/acl/legacy-smp")
    step_until(set(range(1, 61)), "all 60 listings after the restart")

    assert store.stored_topic_id(MARKET) not in (None, old_id)
    assert loop.counters.topic_resets == 1
    assert loop.counters.duplicates == 2 and loop.counters.dead_lettered == 0
    wait_until(
        lambda: loop.run_once(100) == 0 and sum(store.stored_offsets(MARKET).values()) == 62,
        timeout=10,
        what="every record of the new topic read",
    )
    source.close()
    store.close()
