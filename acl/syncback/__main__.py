"""``python -m acl.syncback``: the market's events applied to the legacy tables.

Composition root: the legacy store, the Kafka source seeking to the offsets
stored in the legacy database, and the dead-letter publisher (env: see
:class:`acl.settings.SyncbackSettings`).
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from acl.entrypoint import configure_logging, load_settings, stop_on_signals
from acl.settings import SyncbackSettings
from acl.topics import DLQ_TOPIC, DOMAIN_PARTITIONS, ensure_topics
from new_services.contracts.events import topic_for

log = logging.getLogger("acl.syncback")

MARKET_TOPIC = topic_for("market")


class Syncback:
    def __init__(self, settings: SyncbackSettings) -> None:
        self.settings = settings
        self._stop = threading.Event()

    def request_stop(self, *_: Any) -> None:
        self._stop.set()

    def run(self) -> int:
        from acl.kafka_io import make_producer
        from acl.syncback.loop import KafkaEventSource, SyncbackLoop
        from acl.syncback.store import LegacyStore

        servers = self.settings.bootstrap_servers
        ensure_topics(servers, {MARKET_TOPIC: DOMAIN_PARTITIONS, DLQ_TOPIC: 1})
        store = LegacyStore(self.settings.database_url)
        store.prepare()
        source = KafkaEventSource(
            servers, MARKET_TOPIC, store.stored_offsets(MARKET_TOPIC), max_poll_records=self.settings.max_poll_records
        )
        dead_letters = make_producer(servers, "strangler-syncback")
        loop = SyncbackLoop(
            source, store, dead_letters, topic=MARKET_TOPIC, dependency_wait_s=self.settings.dependency_wait_s
        )
        loop.check_topic(adopt=True)  # before the first fetch: see SyncbackLoop.check_topic
        log.info("sync-back started: %s -> legacy database", MARKET_TOPIC)
        try:
            loop.run(self._stop)
        except Exception:
            log.exception("sync-back failed: the uncommitted batch is read again on restart")
            return 1
        finally:
            source.close()
            dead_letters.close(5)
            store.close()
            log.info("sync-back stopped: %s", loop.counters.as_dict())
        return 0


def main() -> None:
    configure_logging()
    app = Syncback(load_settings("acl.syncback", SyncbackSettings.from_env))
    stop_on_signals(app.request_stop)
    sys.exit(app.run())


if __name__ == "__main__":
    main()
