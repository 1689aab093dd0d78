"""The dead-letter topic ``acl.dlq``: a change the ACL could not translate,
kept with everything needed to look at it and retry it after a fix.

A dead letter's value (JSON)::

    {"reason": "unknown code 'Z' in field 'sts'", "error_type": "TranslationError",
     "topic": "legacy.public.smp_lst", "partition": 0, "offset": 17,
     "timestamp_ms": ..., "dead_lettered_at_ms": ...,
     "key": "<original key, text>", "value": "<original value, text>"}

The Kafka key is the original key, so dead letters of one row stay in order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from acl.ports import EventPublisher, Outbound
from acl.topics import DLQ_TOPIC


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    error_type: str
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: str | None
    value: str | None
    dead_lettered_at_ms: int
    dlq_partition: int = -1
    dlq_offset: int = -1

    def to_json(self) -> bytes:
        body = {k: v for k, v in self.__dict__.items() if not k.startswith("dlq_")}
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_record(cls, record: Any) -> DeadLetter:
        body = json.loads(record.value)
        return cls(**body, dlq_partition=record.partition, dlq_offset=record.offset)


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


def dead_letter_for(record: Any, error: BaseException) -> DeadLetter:
    """Wrap a consumed record and the reason it failed."""
    return DeadLetter(
        reason=str(error) or type(error).__name__,
        error_type=type(error).__name__,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=getattr(record, "timestamp", None),
        key=_text(record.key),
        value=_text(record.value),
        dead_lettered_at_ms=int(time.time() * 1000),
    )


def read_dead_letters(bootstrap_servers: str, timeout: float = 10.0) -> Iterator[DeadLetter]:
    """Every dead letter currently in ``acl.dlq``, oldest first per partition.

    Reads without a consumer group (assign + seek), so looking never moves
    anybody's offsets."""
    from kafka import TopicPartition

    from acl.kafka_io import make_consumer

    consumer = make_consumer(bootstrap_servers, group_id=None, client_id="strangler-dlq-reader")
    try:
        partitions = consumer.partitions_for_topic(DLQ_TOPIC) or set()
        tps = [TopicPartition(DLQ_TOPIC, p) for p in sorted(partitions)]
        if not tps:
            return
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout
        # Tansu's end offsets can lag behind what a reader sees: read past
        # them until a poll comes back empty.
        while time.monotonic() < deadline:
            batches = consumer.poll(timeout_ms=300)
            for records in batches.values():
                for record in records:
                    yield DeadLetter.from_record(record)
            if not batches and all(consumer.position(tp) >= end[tp] for tp in tps):
                return
    finally:
        consumer.close()


@dataclass(frozen=True)
class ReplayResult:
    letter: DeadLetter
    published: int
    error: str | None


def replay(
    letters: list[DeadLetter],
    translate_record: Callable[[bytes | None, bytes | None], list[Outbound]],
    producer: EventPublisher,
) -> list[ReplayResult]:
    """Translate each dead letter again with today's translators; publish
    what now succeeds (event ids are deterministic, so replaying twice is
    harmless) and report what still fails."""
    results = []
    for letter in letters:
        key = letter.key.encode() if letter.key is not None else None
        value = letter.value.encode() if letter.value is not None else None
        try:
            outputs = translate_record(key, value)
        except Exception as exc:
            results.append(ReplayResult(letter, 0, f"{type(exc).__name__}: {exc}"))
            continue
        for message in outputs:
            producer.send(message.topic, message.key, message.value, message.headers)
        results.append(ReplayResult(letter, len(outputs), None))
    producer.flush(30)
    return results
