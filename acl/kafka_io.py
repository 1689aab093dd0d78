"""Kafka clients configured once for the whole ACL: kafka-python for the
consumer group and admin, librdkafka (confluent-kafka) for publishing. They
are the adapters of the translator loop's ports (:mod:`acl.ports`).

Group timeouts follow ARCHITECTURE.md: with the defaults a fresh group
takes many times longer to join on Tansu (figures in docs/measured.md)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from acl.ports import ChangeSource, EventPublisher, Offsets, PublishError, SourceRecord
from new_services.platform.topic_identity import check_topics, cluster_topic_ids

__all__ = [
    "GROUP_TIMEOUTS",
    "KafkaChangeSource",
    "PublishError",
    "Publisher",
    "TopicsRecreated",
    "make_consumer",
    "make_producer",
]

log = logging.getLogger(__name__)

GROUP_TIMEOUTS: dict[str, int] = {
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
    "max_poll_interval_ms": 10000,
}


class Publisher(EventPublisher):
    """A librdkafka producer (confluent-kafka) behind a tiny interface.

    Why not kafka-python here: its ``send()`` builds record batches and
    hashes keys in pure Python, an order of magnitude more CPU per record
    than librdkafka, and the relay and the ACL publish every change twice
    (raw change, then domain event), so this is the hot path (figures in
    docs/measured.md). Partitioning is ``murmur2_random``:
    the Java client's murmur2, so a key lands on the partition Kafka Connect
    would choose. Callers ``flush()`` before committing anything upstream;
    ``flush()`` raises :class:`PublishError` if any record failed.
    """

    def __init__(self, bootstrap_servers: str, client_id: str) -> None:
        from confluent_kafka import Producer

        self._errors: list[str] = []
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "client.id": client_id,
                "acks": "all",
                "linger.ms": 1,
                # Delivery reports for failures only, through one producer-wide
                # callback: a per-message Python callback made produce() ~20 us.
                "delivery.report.only.error": True,
                "on_delivery": self._on_delivery,
                "batch.size": 1_000_000,
                "queue.buffering.max.messages": 1_000_000,
                "partitioner": "murmur2_random",
                "enable.idempotence": False,
                "max.in.flight.requests.per.connection": 5,
                "message.send.max.retries": 5,
            }
        )

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._errors.append(f"{msg.topic()}: {err}")

    def send(
        self,
        topic: str,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        # librdkafka takes headers as a list (not a tuple) or a dict.
        kafka_headers: list[tuple[str, str | bytes | None]] | None = list(headers) if headers else None
        while True:
            try:
                self._producer.produce(topic, value, key, headers=kafka_headers)
                return
            except BufferError:  # local queue full: let librdkafka drain it
                self._producer.poll(0.05)

    def flush(self, timeout: float = 30.0) -> None:
        remaining = self._producer.flush(timeout)
        if remaining:
            raise PublishError(f"{remaining} records not delivered within {timeout}s")
        if self._errors:
            errors, self._errors = self._errors, []
            raise PublishError(f"{len(errors)} records failed, first: {errors[0]}")

    def close(self, timeout: float = 10.0) -> None:
        self._producer.flush(timeout)


def make_producer(bootstrap_servers: str, client_id: str) -> Publisher:
    return Publisher(bootstrap_servers, client_id)


def make_consumer(bootstrap_servers: str, *, group_id: str | None, client_id: str, max_poll_records: int = 2000) -> Any:
    """A manual-commit consumer (``enable_auto_commit=False``) reading from
    the earliest offset when the group has none."""
    from kafka import KafkaConsumer

    return KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_poll_records,
        fetch_max_wait_ms=20,  # Tansu answers after the full wait: ~20 ms per hop, fewer requests
        fetch_min_bytes=1,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        metadata_max_age_ms=5000,
        **(GROUP_TIMEOUTS if group_id else {}),
    )


class TopicsRecreated(RuntimeError):
    """The broker lost topics this consumer reads and created them again
    (the embedded broker's memory storage, after a restart)."""


class KafkaChangeSource(ChangeSource):
    """:class:`~acl.ports.ChangeSource` on a kafka-python consumer group
    subscribed to ``topics``; commits the offsets it is given, never the
    consumer's positions (a poll moves those past unpublished records).

    A topic the broker lost and re-created under the same name raises
    :class:`TopicsRecreated` from ``poll``, before any record of that poll
    is returned. Seen by the topic's id changing in the client's metadata
    (``topic_identity``). Why not seek back and go on: the client keeps its
    positions across the reconnect and would fetch the new topic from the
    old offsets, skipping its head (the relay's re-snapshot and the changes
    made meanwhile); and its membership of a group the broker no longer
    knows was seen to stall it mid-way through the re-snapshot. A fresh
    consumer (the process exits, its supervisor starts it again) joins the
    new group, which has no committed offsets, and reads every topic from
    its start; translation is idempotent (same event ids for the same
    change), so the snapshot read again only repeats events."""

    def __init__(
        self, bootstrap_servers: str, topics: list[str], *, group_id: str, client_id: str, max_poll_records: int = 2000
    ) -> None:
        self._consumer = make_consumer(
            bootstrap_servers, group_id=group_id, client_id=client_id, max_poll_records=max_poll_records
        )
        self._topics = list(topics)
        self._topic_ids: dict[str, str] = {}
        self._consumer.subscribe(topics)

    def poll(self, timeout_ms: int) -> Sequence[SourceRecord]:
        batches = self._consumer.poll(timeout_ms=timeout_ms)
        self._check_topics()
        return [record for records in batches.values() for record in records]

    def settle_before_leaving(self, timeout_s: float = 30.0) -> bool:
        """Let a group join in flight finish (records polled meanwhile are
        dropped) before ``close``, up to ``timeout_s``; True if it did.

        Why: after a broker restart the client rejoins the new broker's group
        by itself. Closed in the middle of that join, it leaves a pending
        member behind that its LeaveGroup cannot remove, and Tansu then holds
        every later join of the group (seen: no assignment after 120 s). A
        member that finished joining leaves cleanly, and the next process
        joins in seconds. Reads kafka-python's coordinator state (no public
        accessor); without it, waits the whole timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._consumer.poll(timeout_ms=200)
            if self._group_stable():
                return True
        return False

    def _group_stable(self) -> bool:
        from kafka.coordinator.base import MemberState

        coordinator = getattr(self._consumer, "_coordinator", None)
        state, need_rejoin = getattr(coordinator, "state", None), getattr(coordinator, "need_rejoin", None)
        return state is MemberState.STABLE and callable(need_rejoin) and not need_rejoin()

    def _check_topics(self) -> None:
        """Raise ``TopicsRecreated`` if a topic's id changed since the last poll."""
        current = cluster_topic_ids(self._consumer, self._topics)
        lost = check_topics(self._topic_ids, current).lost
        self._topic_ids.update({topic: id_ for topic, id_ in current.items() if id_ is not None})
        if lost:
            raise TopicsRecreated("; ".join(f"{topic}: {why}" for topic, why in sorted(lost.items())))

    def commit(self, offsets: Offsets, *, wait: bool = False) -> None:
        from kafka import TopicPartition
        from kafka.errors import CommitFailedError, KafkaError
        from kafka.structs import OffsetAndMetadata

        request = {TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in offsets.items()}
        if not wait:
            self._consumer.commit_async(offsets=request, callback=_log_commit_error)
            return
        try:
            self._consumer.commit(offsets=request)
        except (CommitFailedError, KafkaError) as exc:  # rebalanced: the new owner re-translates (same ids)
            log.warning("offset commit failed (the batch will be re-translated, same ids): %s", exc)

    def close(self) -> None:
        self._consumer.close()


def _log_commit_error(offsets: Any, response: Any) -> None:
    if isinstance(response, Exception):
        log.warning("offset commit failed (the batch will be re-translated, same ids): %s", response)
