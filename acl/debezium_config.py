"""Debezium PostgreSQL connector properties, shared by the embedded relay and
``deploy/debezium-postgres-connector.json`` (Kafka Connect). A unit test
checks the deploy file against :func:`capture_properties` so the two ways of
running capture produce the same topics, keys and envelopes.
"""

from __future__ import annotations

from urllib.parse import quote

from acl.settings import DatabaseUrl, RelaySettings, SettingsError
from acl.topics import LEGACY_PARTITIONS, TOPIC_PREFIX
from acl.translators import CAPTURED_TABLES

CONNECTOR_CLASS = "io.debezium.connector.postgresql.PostgresConnector"

#: Prefix of the logical decoding message each heartbeat writes (see
#: :func:`capture_properties`); Debezium drops these messages after reading
#: their LSN.
HEARTBEAT_MESSAGE_PREFIX = "strangler-heartbeat"
#: Prefix of the transactional logical decoding message sync-back writes
#: first in each of its transactions (:mod:`acl.syncback`). The only message
#: prefix captured: the relay reads it to tag the transaction's changes.
SYNCBACK_MESSAGE_PREFIX = "strangler.syncback"


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
    schema; it is not captured, so no ``legacy.message`` topic appears, yet
    its LSN is what the next heartbeat confirms.

    ``message.prefix.include.list`` captures sync-back's marker message only
    (an anchored regular expression; every other prefix, the heartbeat's
    included, is dropped after its LSN is read). Debezium emits it as an
    ``op: m`` record on ``<topic.prefix>.message`` with the transaction's
    ``source.txId``; the embedded relay consumes it to tag the records of
    the same transaction and does not publish it (see
    :mod:`acl.syncback.tagging`). Under Kafka Connect the record does reach
    ``legacy.message``. pgoutput decodes messages whatever the publication
    holds (PostgreSQL 14+; Debezium asks for them).
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
        "message.prefix.include.list": SYNCBACK_MESSAGE_PREFIX.replace(".", "\\."),
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
        **offset_store_properties(settings),
        "offset.flush.interval.ms": "1000",
        "heartbeat.interval.ms": str(settings.heartbeat_interval_ms),
        "poll.interval.ms": str(settings.poll_interval_ms),
        "max.batch.size": "2048",
        "max.queue.size": "8192",
        "snapshot.fetch.size": "4096",
        "status.update.interval.ms": "1000",
    }


JDBC_OFFSET_STORE = "io.debezium.storage.jdbc.offset.JdbcOffsetBackingStore"


def offsets_table(slot_name: str) -> str:
    """The offsets table of the relay that owns ``slot_name``. One per slot:
    the JDBC store saves by ``DELETE FROM <table>`` then one INSERT per
    entry it holds, so two relays sharing a table would erase each other."""
    if not slot_name.replace("_", "").isalnum() or not slot_name.isascii():
        raise ValueError(f"slot name {slot_name!r} is not a plain identifier")
    return f"cdc_offsets_{slot_name.lower()}"


def jdbc_url(db: DatabaseUrl) -> str:
    """The offsets database for pgjdbc, its query parameters included (the
    connector's names without ``database.``); ApplicationName is the store's."""
    unknown = sorted(set(db.options) - set(LIBPQ_TO_DEBEZIUM))
    if unknown:
        raise SettingsError(
            f"STRANGLER_CDC_OFFSETS_DATABASE_URL: parameter(s) {', '.join(unknown)} have no JDBC property"
        )
    params = {LIBPQ_TO_DEBEZIUM[name].removeprefix("database."): value for name, value in db.options.items()}
    params["ApplicationName"] = "strangler-cdc-offsets"
    query = "&".join(f"{name}={quote(value, safe='')}" for name, value in params.items())
    return f"jdbc:postgresql://{db.host}:{db.port}/{quote(db.dbname, safe='')}?{query}"


def offset_store_properties(settings: RelaySettings) -> dict[str, str]:
    """Debezium's JDBC offset store (``debezium-storage-jdbc``, 3.x property
    names, read from the 3.6.3 jar: ``offset.storage.jdbc.connection.*`` and
    ``offset.storage.jdbc.table.*``; 2.x's ``offset.storage.jdbc.url`` and
    ``offset.storage.jdbc.offset.table.name`` are deprecated aliases).

    It writes each flush as one transaction (autocommit off: ``DELETE``,
    ``INSERT`` per entry, ``COMMIT``, rolled back on error), so a crash
    leaves the previous row or the new one, never a torn one. It creates
    its table (``VARCHAR(1255)`` key and value) when missing."""
    db = settings.offsets_database
    return {
        "offset.storage": JDBC_OFFSET_STORE,
        "offset.storage.jdbc.connection.url": jdbc_url(db),
        "offset.storage.jdbc.connection.user": db.user,
        # The store refuses an empty password ("A value is required") even
        # where the server asks for none (the embedded cluster trusts
        # loopback); pgjdbc sends one only if the server asks for it.
        "offset.storage.jdbc.connection.password": db.password or "unused-trust-auth",
        "offset.storage.jdbc.table.name": offsets_table(settings.slot_name),
    }


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
