"""Helpers for the CDC integration tests: the session's PostgreSQL, one
Tansu broker per test module, the relay (one JVM) and the ACL consumer as
child processes exactly as ``strangler up`` starts them. Every child is
stopped in teardown."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from acl.debezium_config import offsets_table
from acl.relay_offsets import OffsetTable
from acl.settings import ConsumerSettings, RelaySettings
from local_stack.kafka import EmbeddedKafka
from local_stack.postgres import EmbeddedPostgres
from local_stack.processes import ManagedProcess, wait_until

ROOT = Path(__file__).resolve().parents[3]
_db_counter = itertools.count()


class Stack:
    """Database + broker + relay + consumer for one test module; the relay's
    offsets in ``offsets_dsn`` (a control database, as in ``strangler up``)."""

    def __init__(self, dsn: str, kafka: EmbeddedKafka, state: Path, offsets_dsn: str) -> None:
        self.dsn, self.kafka, self.state, self.offsets_dsn = dsn, kafka, state, offsets_dsn
        self.relay_settings = RelaySettings(
            database_url=dsn,
            bootstrap_servers=kafka.bootstrap_servers,
            state_dir=state / "cdc",
            heartbeat_interval_ms=2000,
            # slots are cluster-wide and the session's server is shared: one slot per database
            slot_name="slot_" + dsn.rsplit("/", 1)[1],
            offsets_database_url=offsets_dsn,
        )
        self.consumer_settings = ConsumerSettings(bootstrap_servers=kafka.bootstrap_servers)
        #: What the relay, the consumer and the CLI commands run with.
        self.env = {**os.environ, **self.relay_settings.render_env(), **self.consumer_settings.render_env()}
        self.relay = self.child("acl.relay", state / "relay.log")
        self.consumer = self.child("acl", state / "acl.log")

    def child(self, module: str, log: Path) -> ManagedProcess:
        return ManagedProcess(module, [sys.executable, "-m", module], log_file=log, env=self.env, cwd=ROOT)

    def sql(self, *statements: str, params: tuple[Any, ...] | None = None) -> None:
        """Run statements in one transaction, with the monolith's session zone."""
        with psycopg.connect(self.dsn) as conn:
            conn.execute("SET TIME ZONE 'Europe/Paris'")
            for statement in statements:
                conn.execute(statement, params)

    def status(self) -> dict[str, Any]:
        return json.loads((self.state / "cdc" / "status.json").read_text())

    def offsets(self) -> OffsetTable:
        """The relay's stored Debezium offsets (a table in ``offsets_dsn``)."""
        return OffsetTable(self.offsets_dsn, offsets_table(self.relay_settings.slot_name))

    def snapshots_taken(self) -> int:
        """Snapshots the relay's log shows (Debezium logs step 7 once per snapshot)."""
        return self.relay.log.count("Snapshot step 7")


class EventTail:
    """Reads topics from the beginning without a group and keeps every message."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
        tps = []
        for topic in topics:
            parts = wait_until(
                lambda topic=topic: self.consumer.partitions_for_topic(topic),
                timeout=20,
                what=f"partitions of {topic}",
                interval=0.2,
            )
            tps += [TopicPartition(topic, p) for p in sorted(parts)]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)
        self.messages: list[dict[str, Any]] = []

    def poll(self) -> None:
        for records in self.consumer.poll(timeout_ms=100).values():
            for r in records:
                self.messages.append(
                    {
                        "topic": r.topic,
                        "partition": r.partition,
                        "offset": r.offset,
                        "key": r.key.decode() if r.key else None,
                        "value": json.loads(r.value),
                        "headers": dict(r.headers or ()),
                    }
                )

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float, what: str = "") -> float:
        """Poll until ``predicate(messages)``; returns the seconds it took."""
        start = time.monotonic()

        def arrived() -> bool:
            self.poll()  # waits up to 100 ms for records
            return bool(predicate(self.messages))

        wait_until(arrived, timeout=timeout, what=what or "the messages", interval=0)
        return time.monotonic() - start

    def events(self, type_suffix: str, subject: str | None = None) -> list[dict[str, Any]]:
        return [
            m["value"]
            for m in self.messages
            if m["value"].get("type", "").endswith(type_suffix)
            and (subject is None or m["value"]["subject"] == subject)
        ]

    def close(self) -> None:
        self.consumer.close()


def control_database(server: EmbeddedPostgres, prefix: str) -> str:
    """An empty database for the relay's offsets (the control database's part)."""
    return server.create_database(f"{prefix}_ctl_{os.getpid()}_{next(_db_counter)}")


def migrated_database(server: EmbeddedPostgres, prefix: str) -> str:
    dsn = server.create_database(f"{prefix}_{os.getpid()}_{next(_db_counter)}")
    subprocess.run(
        [sys.executable, "-m", "legacy_monolith.manage", "migrate", "-v0"],
        check=True,
        cwd=ROOT,
        env={**os.environ, "STRANGLER_LEGACY_DATABASE_URL": dsn},
        capture_output=True,
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff,"
            " is_active, date_joined) SELECT g, 'x', false, 'u' || g, '', '', '', false, true, now()"
            " FROM generate_series(1, 50) g"
        )
    return dsn
