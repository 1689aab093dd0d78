"""The embedded PostgreSQL the whole toolkit runs on by default."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from local_stack.postgres import EmbeddedPostgres, PostgresStartError


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


def test_refuses_a_busy_port(postgres_server: EmbeddedPostgres, tmp_path: Path) -> None:
    with pytest.raises(PostgresStartError, match="already in use"):
        EmbeddedPostgres(tmp_path / "data", port=postgres_server.port).start()
