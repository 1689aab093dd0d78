"""The embedded PostgreSQL the whole toolkit runs on by default."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psycopg
import pytest

from local_stack.postgres import EmbeddedPostgres, PostgresStartError
from local_stack.processes import wait_until


def test_session_server_speaks_tcp_with_logical_wal(postgres_server: EmbeddedPostgres) -> None:
    with psycopg.connect(postgres_server.dsn()) as conn:
        assert conn.execute("SHOW wal_level").fetchone() == ("logical",)
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.info.host == "127.0.0.1"


def test_data_survives_a_restart(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "data")
    with server:
        dsn = server.create_database("keep")
        with psycopg.connect(dsn) as conn:
            conn.execute("CREATE TABLE t (v int)")
            conn.execute("INSERT INTO t VALUES (42)")
    with EmbeddedPostgres(tmp_path / "data", port=server.port) as again, psycopg.connect(again.dsn("keep")) as conn:
        assert conn.execute("SELECT v FROM t").fetchone() == (42,)
    assert server.pid is None


def test_restart_after_a_crash_recovers_committed_rows(tmp_path: Path) -> None:
    """What ``strangler up`` does when its PostgreSQL dies: start it again in
    place; a SIGKILLed server recovers from its WAL."""
    with EmbeddedPostgres(tmp_path / "data") as server:
        dsn = server.create_database("keep")
        with psycopg.connect(dsn) as conn:
            conn.execute("CREATE TABLE t (v int)")
            conn.execute("INSERT INTO t VALUES (42)")
        pid = server.pid
        assert pid is not None and server.exit_code is None
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: server.exit_code is not None, timeout=10, what="the server to die")
        server.restart()
        assert server.pid != pid and server.exit_code is None
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT v FROM t").fetchone() == (42,)


def test_refuses_a_busy_port(postgres_server: EmbeddedPostgres, tmp_path: Path) -> None:
    with pytest.raises(PostgresStartError, match="already in use"):
        EmbeddedPostgres(tmp_path / "data", port=postgres_server.port).start()
