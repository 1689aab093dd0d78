"""Every command that needs a running stack says so with exit code 3, fast,
when there is none (no endpoints.json, a closed port)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cli_support import invoke

from local_stack.net import free_port
from strangler_cli.exit_codes import ExitCode

NO_STACK = {"KAFKA_BOOTSTRAP_SERVERS": None, "STRANGLER_LEGACY_DATABASE_URL": None}


@pytest.mark.parametrize(
    "args, says",
    [
        (("acl", "dlq", "list"), "no broker"),
        (("acl", "dlq", "replay"), "no broker"),
        (("cdc", "status"), "no relay status"),
        (("services", "list"), "no running stack"),
        (("services", "rebuild", "pricing", "--token", "t"), "no running stack"),
        (("status",), "no running stack"),
        (("routes", "list", "--token", "t"), "no proxy URL"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_no_stack_exits_3_with_a_hint(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    result = invoke(None, *args, "--state-dir", str(tmp_path), env=NO_STACK)
    assert result.exit_code == ExitCode.UNREACHABLE, result.output
    assert says in result.stderr and result.stdout == ""


def test_a_closed_broker_port_exits_3_at_once(tmp_path: Path) -> None:
    began = time.monotonic()
    result = invoke(None, "acl", "dlq", "list", "--bootstrap", f"127.0.0.1:{free_port()}", env=NO_STACK)
    assert result.exit_code == ExitCode.UNREACHABLE
    assert "cannot reach the broker at 127.0.0.1:" in result.stderr
    assert time.monotonic() - began < 10, "no half-minute Kafka client retry"
