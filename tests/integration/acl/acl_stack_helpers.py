"""Helpers for the CDC integration tests: the session's PostgreSQL, one
Tansu broker per test module, the relay (one JVM) and the ACL consumer as
child processes exactly as ``strangler up`` starts them. Every child is
stopped in teardown."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from acl.debezium_config import offsets_table
from acl.relay_offsets import OffsetTable
from local_stack.kafka import EmbeddedKafka
from local_stack.postgres import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[3]
_db_counter = itertools.count()


class Child:
    """A ``python -m <module>`` child process with its log in a file."""

    def __init__(self, module: str, env: dict[str, str], log: Path) -> None:
        self.module, self.env, self.log = module, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup at all (the crash tests)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Stack:
    """Database + broker + relay + consumer for one test module; the relay's
    offsets in ``offsets_dsn`` (a control database, as in ``strangler up``)."""

    def __init__(self, dsn: str, kafka: EmbeddedKafka, state: Path, offsets_dsn: str) -> None:
        self.dsn, self.kafka, self.state, self.offsets_dsn = dsn, kafka, state, offsets_dsn
        self.env = {
            **os.environ,
            "STRANGLER_LEGACY_DATABASE_URL": dsn,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "STRANGLER_CDC_STATE_DIR": str(state / "cdc"),
            "STRANGLER_CDC_HEARTBEAT_MS": "2000",
            # slots are cluster-wide and the session's server is shared: one slot per database
            "STRANGLER_CDC_SLOT": "slot_" + dsn.rsplit("/", 1)[1],
            "STRANGLER_CDC_OFFSETS_DATABASE_URL": offsets_dsn,
        }
        self.relay = Child("acl.relay", self.env, state / "relay.log")
        self.consumer = Child("acl", self.env, state / "acl.log")

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
        return OffsetTable(self.offsets_dsn, offsets_table(self.env["STRANGLER_CDC_SLOT"]))

    def snapshots_taken(self) -> int:
        """Snapshots the relay's log shows (Debezium logs step 7 once per snapshot)."""
        return self.relay.log.read_text().count("Snapshot step 7")


class EventTail:
    """Reads topics from the beginning without a group and keeps every message."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
        tps = []
        for topic in topics:
            deadline = time.monotonic() + 20
            while not (parts := self.consumer.partitions_for_topic(topic)) and time.monotonic() < deadline:
                time.sleep(0.2)
            tps += [TopicPartition(topic, p) for p in sorted(parts or [])]
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
        while time.monotonic() - start < timeout:
            self.poll()
            if predicate(self.messages):
                return time.monotonic() - start
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; got {len(self.messages)} messages")

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


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
