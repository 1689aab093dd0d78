"""``strangler status``: every part of the stack from ``endpoints.json``,
probed for real (TCP ports) or through a fake transport (HTTP parts)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_support import invoke

from local_stack.net import free_port
from strangler_cli.exit_codes import ExitCode

PASSWORD = "s3cret-db-password"


@pytest.fixture
def listening() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel completes them)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def stack_http(ready: bool = True) -> httpx.MockTransport:
    """The HTTP parts of a healthy stack: proxy, legacy, pricing."""

    def handle(request: httpx.Request) -> httpx.Response:
        host, path = request.url.host, request.url.path
        if host == "proxy-admin.test" and path == "/_strangler/health":  # the admin listener, not the public port
            return httpx.Response(200, json={"status": "ok", "version": 7, "pid": 1})
        if host == "legacy.test" and path == "/admin/login/":
            return httpx.Response(200, text="<html>login</html>")
        if host == "pricing.test" and path == "/readyz":
            return httpx.Response(
                200 if ready else 503,
                json={"ready": ready, "lag": {"events": 0 if ready else 1234}, "events_applied": 5000},
            )
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    return httpx.MockTransport(handle)


def write_endpoints(
    state: Path, *, pg_port: int, kafka_port: int, launcher_pid: int | None = None, **extra: Any
) -> Path:
    state.mkdir(exist_ok=True)
    endpoints = {
        "proxy": "http://proxy.test",
        "proxy_admin": "http://proxy-admin.test",
        "legacy": "http://legacy.test",
        "kafka": f"127.0.0.1:{kafka_port}",
        "services": {"pricing": "http://pricing.test"},
        "dashboard": None,
        "databases": {
            "legacy": f"postgresql://postgres@127.0.0.1:{pg_port}/smp",
            "control": f"postgresql://postgres@127.0.0.1:{pg_port}/strangler_control",
            "pricing": f"postgresql://pricing:{PASSWORD}@127.0.0.1:{pg_port}/pricing",
        },
        "pid": os.getpid() if launcher_pid is None else launcher_pid,
        "processes": {"proxy": 101, "legacy": 102, "pricing": 103, "postgres": 104, "kafka": 105},
        **extra,
    }
    (state / "endpoints.json").write_text(json.dumps(endpoints))
    return state


def test_a_healthy_stack_is_all_up_and_exits_0(tmp_path: Path, listening: int) -> None:
    state = write_endpoints(tmp_path / "s", pg_port=listening, kafka_port=listening)
    result = invoke(stack_http(), "status", "--state-dir", str(state), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["launcher"] == {"pid": os.getpid(), "alive": True}
    parts = {p["part"]: p for p in data["parts"]}
    assert list(parts) == ["proxy", "legacy", "service pricing", "kafka", "postgres"]
    assert {p["state"] for p in parts.values()} == {"up"}
    assert parts["proxy"]["detail"] == "serves route table v7" and parts["proxy"]["pid"] == 101
    assert parts["postgres"]["address"] == f"127.0.0.1:{listening}"
    assert parts["postgres"]["detail"] == "databases legacy, control, pricing"


def test_the_table_shows_each_part_and_never_a_password(tmp_path: Path, listening: int) -> None:
    state = write_endpoints(tmp_path / "s", pg_port=listening, kafka_port=listening)
    result = invoke(stack_http(ready=False), "status", "--state-dir", str(state))
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    lines = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") > 2}
    assert "not ready" in lines["service pricing"] and "lag 1,234 events" in lines["service pricing"]
    assert " up " in lines["proxy"] and " up " in lines["kafka"]
    assert "running" in result.stdout


def test_a_part_that_is_down_makes_it_exit_3(tmp_path: Path, listening: int) -> None:
    closed = free_port()
    state = write_endpoints(tmp_path / "s", pg_port=listening, kafka_port=closed)
    result = invoke(stack_http(), "status", "--state-dir", str(state), "--json")
    assert result.exit_code == ExitCode.UNREACHABLE
    parts = {p["part"]: p for p in json.loads(result.stdout)["parts"]}
    assert parts["kafka"]["state"] == "down" and parts["postgres"]["state"] == "up"
    result = invoke(
        httpx.MockTransport(lambda r: httpx.Response(503, json={"error": "busy"})),
        "status",
        "--state-dir",
        str(state),
        "--json",
    )
    parts = {p["part"]: p for p in json.loads(result.stdout)["parts"]}
    assert parts["legacy"]["state"] == "down" and parts["legacy"]["detail"] == "HTTP 503"
    assert parts["proxy"]["state"] == "down" and parts["proxy"]["detail"] == "HTTP 503"
    assert parts["service pricing"]["state"] == "not ready"


def test_a_dead_launcher_means_stale_endpoints_and_exit_3(tmp_path: Path, listening: int) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state = write_endpoints(tmp_path / "s", pg_port=listening, kafka_port=listening, launcher_pid=dead.pid)
    result = invoke(stack_http(), "status", "--state-dir", str(state))
    assert result.exit_code == ExitCode.UNREACHABLE
    assert "gone (endpoints.json is stale)" in result.stdout


def test_no_stack_exits_3_with_a_hint(tmp_path: Path) -> None:
    result = invoke(None, "status", "--state-dir", str(tmp_path))
    assert result.exit_code == ExitCode.UNREACHABLE
    assert "no running stack" in result.stderr and "strangler up" in result.stderr
    assert result.stdout == ""
