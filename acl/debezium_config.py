"""Debezium PostgreSQL connector properties, shared by the embedded relay and
``deploy/debezium-postgres-connector.json`` (Kafka Connect). A unit test
checks the deploy file against :func:`capture_properties` so the two ways of
running capture produce the same topics, keys and envelopes.
"""

from __future__ import annotations

from pathlib import Path

from acl.settings import DatabaseUrl, RelaySettings, SettingsError
from acl.topics import LEGACY_PARTITIONS, TOPIC_PREFIX
from acl.translators import CAPTURED_TABLES

CONNECTOR_CLASS = "io.debezium.connector.postgresql.PostgresConnector"

#: Prefix of the logical decoding message each heartbeat writes (see
#: :func:`capture_properties`); Debezium drops these messages after reading
#: their LSN.
HEARTBEAT_MESSAGE_PREFIX = "strangler-heartbeat"


def capture_properties(slot_name: str = "strangler_legacy") -> dict[str, str]:
    """What is captured and how it is encoded: identical in both deployments.

    ``replica.identity.autoset.values`` makes Debezium run ``ALTER TABLE ...
    REPLICA IDENTITY FULL`` on the six tables at start: database
    configuration, not monolith code. We need full before-images to turn an
    in-place balance/quantity/status UPDATE into a credit/debit/transition.

    ``heartbeat.action.query`` writes a logical decoding message at every
    heartbeat. Without it the slot pins WAL whenever only uncaptured tables
    change (Django sessions, the admin log, the control tables): pgoutput
    sends nothing for them, so Debezium has no newer LSN to confirm (see
    docs/measured.md). The message needs no table and touches no monolith
    schema; it is excluded from capture, so no ``legacy.message`` topic
    appears, yet its LSN is what the next heartbeat confirms.
    """
    tables = ",".join(f"public.{t}" for t in CAPTURED_TABLES)
    return {
        "connector.class": CONNECTOR_CLASS,
        "plugin.name": "pgoutput",
        "slot.name": slot_name,
        "publication.name": slot_name,
        "publication.autocreate.mode": "filtered",
        "table.include.list": tables,
        "replica.identity.autoset.values": ",".join(f"public.{t}:FULL" for t in CAPTURED_TABLES),
        "topic.prefix": TOPIC_PREFIX,
        "snapshot.mode": "initial",
        "tombstones.on.delete": "true",
        "heartbeat.action.query": f"SELECT pg_logical_emit_message(false, '{HEARTBEAT_MESSAGE_PREFIX}', now()::text)",
        "message.prefix.exclude.list": HEARTBEAT_MESSAGE_PREFIX,
        "time.precision.mode": "adaptive",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "false",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
    }


#: libpq connection parameters -> the connector's ``database.*`` properties.
#: The ``ssl*`` ones are the connector's own; the others pass through to the
#: PostgreSQL JDBC driver, which spells them differently.
LIBPQ_TO_DEBEZIUM = {
    "sslmode": "database.sslmode",
    "sslrootcert": "database.sslrootcert",
    "sslcert": "database.sslcert",
    "sslkey": "database.sslkey",
    "sslpassword": "database.sslpassword",
    "application_name": "database.ApplicationName",
    "connect_timeout": "database.connectTimeout",
    "options": "database.options",
}


def connection_properties(db: DatabaseUrl) -> dict[str, str]:
    """Where to connect, query parameters included; a parameter Debezium
    cannot be given fails loudly instead of being dropped."""
    unknown = sorted(set(db.options) - set(LIBPQ_TO_DEBEZIUM))
    if unknown:
        raise SettingsError(
            f"STRANGLER_LEGACY_DATABASE_URL: parameter(s) {', '.join(unknown)} have no Debezium property"
        )
    return {
        "database.hostname": db.host,
        "database.port": str(db.port),
        "database.user": db.user,
        "database.password": db.password,
        "database.dbname": db.dbname,
        **{LIBPQ_TO_DEBEZIUM[name]: value for name, value in db.options.items()},
    }


def embedded_properties(settings: RelaySettings) -> dict[str, str]:
    """Everything the embedded engine needs: capture + connection + offsets +
    latency tuning (small poll interval). Batches and the queue are kept
    moderate: every queued record survives young collections in the JVM, and
    bigger ones did not make the snapshot faster, only the GC pauses longer."""
    return {
        **capture_properties(settings.slot_name),
        "name": "strangler-legacy-relay",
        "converter.schemas.enable": "false",
        **connection_properties(settings.database),
        "offset.storage": "org.apache.kafka.connect.storage.FileOffsetBackingStore",
        "offset.storage.file.filename": str(offsets_file(settings.state_dir)),
        "offset.flush.interval.ms": "1000",
        "heartbeat.interval.ms": str(settings.heartbeat_interval_ms),
        "poll.interval.ms": str(settings.poll_interval_ms),
        "max.batch.size": "2048",
        "max.queue.size": "8192",
        "snapshot.fetch.size": "4096",
        "status.update.interval.ms": "1000",
    }


def offsets_file(state_dir: Path) -> Path:
    return state_dir / "offsets.dat"


def kafka_connect_registration(partitions: int = LEGACY_PARTITIONS) -> dict[str, object]:
    """The body POSTed to Kafka Connect's /connectors (deploy/ JSON file)."""
    return {
        "name": "legacy-smp",
        "config": {
            **capture_properties(),
            "database.hostname": "${env:LEGACY_DB_HOST}",
            "database.port": "${env:LEGACY_DB_PORT}",
            "database.user": "${env:LEGACY_DB_USER}",
            "database.password": "${env:LEGACY_DB_PASSWORD}",
            "database.dbname": "${env:LEGACY_DB_NAME}",
            "heartbeat.interval.ms": "10000",
            "poll.interval.ms": "5",
            "topic.creation.default.partitions": str(partitions),
            "topic.creation.default.replication.factor": "-1",
            "tasks.max": "1",
        },
    }
