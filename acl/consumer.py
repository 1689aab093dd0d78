"""The translator consumer group: legacy topics -> domain topics + ``acl.dlq``.

:class:`TranslatorLoop` polls a batch from the :class:`~acl.ports.ChangeSource`,
translates every record (pure functions, :mod:`acl.translation`), and runs
the batch as a :class:`~acl.unit_of_work.BatchUnitOfWork`: publish, wait for
the broker's acknowledgements, only then commit the source offsets. A crash
in between replays the batch; deterministic event ids make the duplicates
harmless. A record that cannot be translated becomes a dead letter and the
stream goes on.

:class:`AclConsumer` is the composition root: the Kafka adapters behind the
two ports. Run: ``python -m acl`` or ``python -m acl.consumer`` (env: see
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

from acl.entrypoint import configure_logging, load_settings, stop_on_signals
from acl.ports import ChangeSource, EventPublisher, Outbound, SourceRecord
from acl.settings import ConsumerSettings
from acl.syncback.tagging import is_syncback
from acl.topics import DLQ_TOPIC, DOMAIN_PARTITIONS, DOMAIN_TOPICS, LEGACY_PARTITIONS, LEGACY_TOPICS, ensure_topics
from acl.translation import process_record, translate_record
from acl.unit_of_work import BatchUnitOfWork, ThrottledCommitter

__all__ = ["AclConsumer", "TranslatorLoop", "main", "process_record", "translate_record"]

log = logging.getLogger("acl.consumer")


class TranslatorLoop:
    """Legacy records in, domain events (or dead letters) out, over the two ports."""

    def __init__(
        self,
        source: ChangeSource,
        publisher: EventPublisher,
        *,
        commit_interval_s: float = 0.2,
        process: Callable[[SourceRecord], list[Outbound]] = process_record,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source, self._process = source, process
        self.committer = ThrottledCommitter(source, commit_interval_s, clock)
        self._uow = BatchUnitOfWork(publisher, self.committer)
        self.processed = 0
        self.skipped_syncback = 0

    def run_once(self, timeout_ms: int = 100) -> int:
        """One poll; returns how many records it published. Raises (after
        committing nothing of the batch) if publishing failed."""
        records = self.source.poll(timeout_ms)
        if not records:
            self.committer.idle()
            return 0
        with self._uow as uow:
            for record in records:
                if record.headers and is_syncback(record.headers):
                    uow.add(record, ())
                    self.skipped_syncback += 1
                else:
                    uow.add(record, self._process(record))
            uow.commit()
        self.processed += len(records)
        return len(records)

    def run(self, stop: threading.Event, *, report_every_s: float = 10.0) -> None:
        """Until ``stop`` is set, then commit what was published. An error
        leaves at once: nothing more is committed, the rest is replayed.
        Logs its counters every ``report_every_s`` when they moved."""
        reported, next_report = (-1, -1), time.monotonic() + report_every_s
        while not stop.is_set():
            self.run_once()
            if time.monotonic() >= next_report:
                reported = self.report(reported)
                next_report = time.monotonic() + report_every_s
        self.committer.flush()
        self.report(reported)

    def report(self, last: tuple[int, int] = (-1, -1)) -> tuple[int, int]:
        """Log ``processed`` and ``skipped_syncback`` unless they equal ``last``."""
        now = (self.processed, self.skipped_syncback)
        if now != last:
            log.info("acl status: processed=%d skipped_syncback=%d", *now)
        return now


def tune_gc() -> None:
    """Long-running hot loop: move start-up objects out of the collector's
    sight (``gc.freeze``) and collect young objects less often. Nearly all
    garbage here is acyclic (freed by refcount); frequent gen-0/1 passes
    over the clients' object graphs only add CPU and latency spikes."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


class AclConsumer:
    """Composition root of one translator process: Kafka behind the ports."""

    def __init__(self, settings: ConsumerSettings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self.processed = 0

    def request_stop(self, *_: Any) -> None:
        self._stop.set()

    def run(self) -> int:
        from acl.kafka_io import KafkaChangeSource, TopicsRecreated, make_producer

        servers = self.settings.bootstrap_servers
        ensure_topics(
            servers,
            {
                **dict.fromkeys(LEGACY_TOPICS, LEGACY_PARTITIONS),
                **dict.fromkeys(DOMAIN_TOPICS, DOMAIN_PARTITIONS),
                DLQ_TOPIC: 1,
            },
        )
        publisher = make_producer(servers, "strangler-acl")
        source = KafkaChangeSource(
            servers,
            list(LEGACY_TOPICS),
            group_id=self.settings.group_id,
            client_id="strangler-acl",
            max_poll_records=self.settings.max_poll_records,
        )
        loop = TranslatorLoop(source, publisher, commit_interval_s=self.settings.commit_interval_s)
        tune_gc()
        log.info("acl consumer started: group %s on %s", self.settings.group_id, servers)
        try:
            loop.run(self._stop)
        except TopicsRecreated as exc:
            # One line, no traceback: the expected end of a consumer whose broker lost its topics.
            log.error("the broker lost its topics (%s): exiting so a fresh consumer reads them from the start", exc)
            source.settle_before_leaving()
            return 1
        except Exception:
            log.error("acl consumer failed: the unpublished batch is replayed on restart")
            raise
        finally:
            self.processed = loop.processed
            source.close()
            publisher.close(5)
            log.info(
                "acl consumer stopped after %d records (%d sync-back records skipped)",
                self.processed,
                loop.skipped_syncback,
            )
        return 0


def main() -> None:
    configure_logging()
    app = AclConsumer(load_settings("acl", ConsumerSettings.from_env))
    stop_on_signals(app.request_stop)
    sys.exit(app.run())


if __name__ == "__main__":
    main()
