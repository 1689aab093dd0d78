"""The outbox relay: publishes the outbox rows to Kafka in ``id`` order and
marks them published; at-least-once (a crash between the broker's ack and
the mark publishes the batch again; consumers are idempotent by event id and
aggregate id).

Messages were encoded when the write committed (the contracts' codec,
structured CloudEvents, source ``/strangler/market``); they travel with
:data:`KAFKA_HEADERS` and the subject as key, on librdkafka's
``murmur2_random`` partitioner like the ACL's, so a listing's events land on
one partition whoever wrote them.

One relay publishes at a time (a transaction-scoped advisory lock), so the
order holds even if two processes run one. It runs as a thread of ``serve``
by default (one process less on a small machine, and it starts and stops
with the service that writes the rows); ``python -m new_services.market
relay`` runs it alone. A NOTIFY from the writing transaction wakes it; it
also polls every ``idle_s``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import psycopg

from new_services.contracts.codec import KAFKA_HEADERS

log = logging.getLogger(__name__)

#: pg_advisory lock key of the relay ("mkt-outb").
RELAY_LOCK = 0x6D6B742D6F757462
CHANNEL = "market_outbox"


class Publisher(Protocol):
    def publish(self, messages: Sequence[tuple[str, bytes, bytes]]) -> None:
        """Publish (topic, key, value) in order; return only once the broker
        acknowledged all of them, raise otherwise."""


class KafkaPublisher:
    def __init__(self, bootstrap_servers: str, *, client_id: str = "strangler-market-relay") -> None:
        from confluent_kafka import Producer

        self._errors: list[str] = []
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "client.id": client_id,
                "acks": "all",
                "linger.ms": 1,
                "partitioner": "murmur2_random",
                # Order within a partition survives retries.
                "enable.idempotence": False,
                "max.in.flight.requests.per.connection": 1,
                "on_delivery": self._on_delivery,
            }
        )

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._errors.append(f"{msg.topic()}: {err}")

    def publish(self, messages: Sequence[tuple[str, bytes, bytes]]) -> None:
        headers: list[tuple[str, str | bytes | None]] = list(KAFKA_HEADERS)
        for topic, key, value in messages:
            self._producer.produce(topic, value, key, headers=headers)
        remaining = self._producer.flush(30.0)
        if remaining or self._errors:
            errors, self._errors = self._errors, []
            raise RuntimeError(f"outbox publish failed: {remaining} undelivered, errors {errors[:1]}")

    def close(self) -> None:
        self._producer.flush(5.0)


class OutboxRelay:
    def __init__(self, dsn: str, publisher: Publisher, *, batch: int = 500, idle_s: float = 1.0) -> None:
        self.dsn, self.publisher, self.batch, self.idle_s = dsn, publisher, batch, idle_s
        self._stop = threading.Event()

    def request_stop(self, *_: Any) -> None:
        self._stop.set()

    def relay_once(self, conn: psycopg.Connection[Any]) -> int:
        """Publish one batch of pending rows; how many (0: none, or another relay holds the lock)."""
        with conn.transaction():
            locked = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (RELAY_LOCK,)).fetchone()
            if not locked or not locked[0]:
                return 0
            rows = conn.execute(
                "SELECT id, topic, key, value FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT %s",
                (self.batch,),
            ).fetchall()
            if not rows:
                return 0
            self.publisher.publish([(topic, bytes(key), bytes(value)) for _, topic, key, value in rows])
            conn.execute("UPDATE outbox SET published_at = now() WHERE id = ANY(%s)", ([row[0] for row in rows],))
        return len(rows)

    def run(self) -> None:
        """Until :meth:`request_stop`; a lost database or broker is retried."""
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn) as conn, psycopg.connect(self.dsn, autocommit=True) as listener:
                    listener.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        if self.relay_once(conn) == self.batch:
                            continue
                        for _ in listener.notifies(timeout=self.idle_s, stop_after=1):
                            pass
            except Exception as exc:
                log.warning("outbox relay: %s; retrying", exc)
                self._stop.wait(1.0)

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="market-outbox-relay", daemon=True)
        thread.start()
        return thread


class BrokerEndOffsets:
    """The end offsets of topics (topic -> partition -> next offset), read
    from the broker by one kafka-python client without a group, opened on
    first use; the handback's bound on every event the market wrote."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self._consumer: Any = None

    def __call__(self, topics: list[str]) -> dict[str, dict[str, int]]:
        from kafka import KafkaConsumer, TopicPartition

        if self._consumer is None:
            self._consumer = KafkaConsumer(
                bootstrap_servers=self.bootstrap_servers, group_id=None, client_id="strangler-market-handback"
            )
        partitions = []
        for topic in topics:
            known = self._consumer.partitions_for_topic(topic)
            if not known:
                raise RuntimeError(f"no partitions known for {topic} yet")
            partitions += [TopicPartition(topic, p) for p in sorted(known)]
        ends = self._consumer.end_offsets(partitions)
        return {topic: {str(tp.partition): int(ends[tp]) for tp in partitions if tp.topic == topic} for topic in topics}
