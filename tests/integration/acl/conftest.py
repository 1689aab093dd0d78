"""The real CDC pipeline for integration tests: the session's PostgreSQL, one
Tansu broker per test module, the relay (one JVM) and the ACL consumer as
child processes exactly as ``strangler up`` starts them. Every child is
stopped in teardown."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from acl_stack_helpers import Stack, control_database, migrated_database

from local_stack.kafka import EmbeddedKafka
from local_stack.postgres import EmbeddedPostgres


@pytest.fixture(scope="module")
def stack(postgres_server: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("acl-stack")
    dsn = migrated_database(postgres_server, "acl_it")
    with EmbeddedKafka(state / "kafka") as kafka:
        s = Stack(dsn, kafka, state, control_database(postgres_server, "acl_it"))
        try:
            yield s
        finally:
            s.consumer.stop()
            s.relay.stop()
            with psycopg.connect(dsn, autocommit=True) as conn:  # free the slot's WAL
                conn.execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                    " WHERE database = current_database() AND NOT active"
                )
