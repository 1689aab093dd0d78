"""The translator consumer group: legacy topics -> domain topics + ``acl.dlq``.

Loop: poll a batch, translate every record (pure functions), send the
CloudEvents, ``flush()`` (acks=all), *then* commit the group offsets
(``enable_auto_commit=False``). A crash between publish and commit replays
the batch; deterministic event ids make the duplicates harmless. A record
that cannot be translated becomes a dead letter and the stream goes on.

Run: ``python -m acl`` or ``python -m acl.consumer`` (env: see
:class:`acl.settings.ConsumerSettings`). Several processes with the same
group id share the partitions.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from acl.cloudevents import encode_event
from acl.dlq import dead_letter_for
from acl.envelope import parse_change
from acl.entrypoint import configure_logging, load_settings, stop_on_signals
from acl.settings import ConsumerSettings
from acl.topics import DLQ_TOPIC, DOMAIN_PARTITIONS, DOMAIN_TOPICS, LEGACY_PARTITIONS, LEGACY_TOPICS, ensure_topics
from acl.translators import translate

log = logging.getLogger("acl.consumer")

Output = tuple[str, bytes, bytes]


def translate_record(key: bytes | None, value: bytes | None) -> list[Output]:
    """One legacy record -> (topic, key, CloudEvent bytes) for each event.
    Raises on anything untranslatable (the caller dead-letters it)."""
    change = parse_change(key, value)
    if change is None:
        return []
    outputs = []
    for event in translate(change):
        subject = event.subject()
        outputs.append((event.topic(), subject.encode(), encode_event(change, event, subject)))
    return outputs


def process_record(record: Any) -> list[Output]:
    """Like :func:`translate_record`, but a failure becomes a dead letter."""
    try:
        return translate_record(record.key, record.value)
    except Exception as exc:  # noqa: BLE001 - any failure of one record must not stop the stream
        log.warning("dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, exc)
        return [(DLQ_TOPIC, record.key or b"", dead_letter_for(record, exc).to_json())]


def tune_gc() -> None:
    """Long-running hot loop: move start-up objects out of the collector's
    sight (``gc.freeze``) and collect young objects less often. Nearly all
    garbage here is acyclic (freed by refcount); frequent gen-0/1 passes
    over the clients' object graphs only add CPU and latency spikes."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _log_commit_error(offsets: Any, response: Any) -> None:
    if isinstance(response, Exception):
        log.warning("offset commit failed (the batch will be re-translated, same ids): %s", response)


class ThrottledCommitter:
    """Commits the group's offsets after publishing, at most every
    ``interval`` seconds while records flow and at once when the stream goes
    quiet.

    Why throttle: every OffsetCommit is a broker request, and on the embedded
    broker a request costs about a millisecond of CPU whatever its size; at
    500 changes/s the ACL polled ~50 batches/s. Committing less often only
    widens what a crash replays, and replays are harmless (same event ids).
    Async, so the next poll does not wait a round trip."""

    def __init__(self, consumer: Any, interval: float, clock: Any = time.monotonic) -> None:
        self._consumer, self._interval, self._clock = consumer, interval, clock
        self._last = clock()
        self._pending = False

    def published(self) -> None:
        """A polled batch is published and acknowledged: its offsets may go."""
        self._pending = True
        if self._clock() - self._last >= self._interval:
            self._commit()

    def idle(self) -> None:
        """Nothing new arrived: commit what is pending now."""
        if self._pending:
            self._commit()

    def _commit(self) -> None:
        self._consumer.commit_async(callback=_log_commit_error)
        self._pending = False
        self._last = self._clock()


class AclConsumer:
    """Composition root of one translator process."""

    def __init__(
        self,
        settings: ConsumerSettings,
        *,
        make_consumer: Callable[..., Any] | None = None,
        make_producer: Callable[..., Any] | None = None,
        ensure_topics: Callable[..., None] = ensure_topics,
    ) -> None:
        """``make_consumer``/``make_producer``/``ensure_topics`` default to the
        real Kafka clients (:mod:`acl.kafka_io`); tests pass fakes."""
        self.settings = settings
        self._make_consumer = make_consumer
        self._make_producer = make_producer
        self._ensure_topics = ensure_topics
        self._stop = threading.Event()
        self.processed = 0

    def request_stop(self, *_: Any) -> None:
        self._stop.set()

    def run(self) -> int:
        from kafka.errors import CommitFailedError, KafkaError

        from acl import kafka_io

        make_consumer = self._make_consumer or kafka_io.make_consumer
        make_producer = self._make_producer or kafka_io.make_producer
        servers = self.settings.bootstrap_servers
        self._ensure_topics(servers, {
            **{t: LEGACY_PARTITIONS for t in LEGACY_TOPICS},
            **{t: DOMAIN_PARTITIONS for t in DOMAIN_TOPICS},
            DLQ_TOPIC: 1,
        })
        producer = make_producer(servers, "strangler-acl")
        consumer = make_consumer(servers, group_id=self.settings.group_id, client_id="strangler-acl",
                                 max_poll_records=self.settings.max_poll_records)
        consumer.subscribe(list(LEGACY_TOPICS))
        committer = ThrottledCommitter(consumer, self.settings.commit_interval_s)
        tune_gc()
        log.info("acl consumer started: group %s on %s", self.settings.group_id, servers)
        # The consumer's positions run ahead of what is published (a poll
        # moves them past the batch), and commit() commits positions. So the
        # final commit happens only on a clean stop, which is only checked
        # between batches, i.e. when every polled batch is published. Leaving
        # on an error (flush raised PublishError, a send or translator
        # crashed) commits nothing: the batch is replayed on restart.
        stopped_cleanly = False
        try:
            while not self._stop.is_set():
                batches = consumer.poll(timeout_ms=100)
                if not batches:
                    committer.idle()
                    continue
                for records in batches.values():
                    for record in records:
                        for topic, key, value in process_record(record):
                            producer.send(topic, key, value)
                producer.flush(30)  # raises PublishError -> exit without committing (replayed on restart)
                committer.published()
                self.processed += sum(len(r) for r in batches.values())
            stopped_cleanly = True
        finally:
            if stopped_cleanly:
                try:
                    consumer.commit()
                except (CommitFailedError, KafkaError) as exc:  # rebalanced: the new owner re-translates (same ids)
                    log.warning("final commit failed: %s", exc)
            else:
                log.error("acl consumer failed: committing nothing, the unpublished batch is replayed on restart")
            consumer.close()
            producer.close(5)
            log.info("acl consumer stopped after %d records", self.processed)
        return 0


def main() -> None:
    configure_logging()
    app = AclConsumer(load_settings("acl", ConsumerSettings.from_env))
    stop_on_signals(app.request_stop)
    sys.exit(app.run())


if __name__ == "__main__":
    main()
