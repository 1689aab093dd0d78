"""The market's processes for real: ``STRANGLER_MARKET_CRASH_AFTER`` kills a
process with SIGKILL right after the named step is committed, and ``serve``
resumes the unfinished saga when it starts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from test_market_writes import seed

from local_stack.processes import http_ok, wait_until
from new_services.market.settings import DEFAULT_PORT, SERVICE, MarketSettings
from new_services.platform.identity import ensure_key_file
from new_services.platform.settings import ServiceSettings, database_url

HERE = Path(__file__).parent
ROOT = HERE.parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_for(
    market_dsn: str, tmp_path: Path, *, port: int = DEFAULT_PORT, crash_after: str | None = None
) -> dict[str, str]:
    settings = MarketSettings(
        service=ServiceSettings(service=SERVICE, database_url=database_url(market_dsn), port=port, admin_token="admin"),
        legacy_url="http://127.0.0.1:9",
        internal_token="internal",
        identity_keys=tmp_path / "identity-keys.json",
        relay="off",
        crash_after=crash_after,
    )
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)]), **settings.render_env()}


def saga_states(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT state FROM sagas"))]


@pytest.fixture
def crashed_after_settle(market_dsn: str, market_engine: Engine, tmp_path: Path) -> dict[str, str]:
    seed(market_engine)
    env = env_for(market_dsn, tmp_path, crash_after="settled")
    child = subprocess.run(
        [sys.executable, str(HERE / "market_crash_child.py"), "40", "2"],
        check=False,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    assert saga_states(market_engine) == ["settled"]
    with market_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sales")).scalar() == 0
    return env


@pytest.fixture
def served(crashed_after_settle: dict[str, str], market_dsn: str, tmp_path: Path) -> Iterator[str]:
    ensure_key_file(tmp_path / "identity-keys.json")
    port = free_port()
    env = env_for(market_dsn, tmp_path, port=port)  # the same settings, without the crash
    process = subprocess.Popen(
        [sys.executable, "-m", "new_services.market", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_resumes_a_saga_killed_after_its_settlement(served: str, market_engine: Engine) -> None:
    wait_until(http_ok(f"{served}/healthz"), timeout=60, what="market serve")
    wait_until(lambda: saga_states(market_engine) == ["done"], timeout=30, what="the saga resumed")
    with market_engine.connect() as conn:
        assert conn.execute(text("SELECT quantity, fee FROM sales")).one() == (2, 100)
        assert conn.execute(text("SELECT quantity_remaining FROM listings")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM outbox")).scalar() == 2
