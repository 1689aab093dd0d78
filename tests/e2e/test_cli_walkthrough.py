"""The CLI on the session's real stack: ``strangler status``, ``logs``,
``routes export``/``apply`` and the README's "first five minutes".

Every test leaves the route table as it found it (other e2e tests share the
stack)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from stack_support import RunningStack, strangler

from local_stack.processes import wait_until

RATE = "GET /api/items/{id}/rate/"
README = Path(__file__).resolve().parents[2] / "README.md"


def run(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    """``strangler ARGS --state-dir STATE`` as a user runs it."""
    return subprocess.run(
        strangler(*args, "--state-dir", str(stack.state_dir)),
        env={**stack.env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def table_restored(stack: RunningStack, tmp_path: Path) -> Iterator[Path]:
    """The live table exported before the test and applied back after it."""
    saved = tmp_path / "saved.yaml"
    assert run(stack, "routes", "export", "-o", str(saved)).returncode == 0
    yield saved
    result = run(stack, "routes", "apply", str(saved), "--yes", "--reason", "e2e: restore")
    assert result.returncode == 0, result.stderr


def upstream(stack: RunningStack) -> str:
    response = httpx.get(f"{stack.endpoints['proxy']}/api/items/1/rate/", timeout=10)
    return str(response.headers.get("x-strangler-upstream"))


def test_status_sees_every_part_up_and_prints_no_password(stack: RunningStack) -> None:
    result = run(stack, "status", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    parts = {p["part"]: p for p in data["parts"]}
    assert {"proxy", "legacy", "service pricing", "kafka", "postgres"} <= set(parts)
    for part in ("proxy", "legacy", "kafka", "postgres"):
        assert parts[part]["state"] == "up", parts[part]
    assert parts["service pricing"]["state"] in ("up", "not ready")
    assert data["launcher"] == {"pid": stack.process.pid, "alive": True}
    table = run(stack, "status")
    assert table.returncode == 0
    password = (stack.state_dir / "pricing-db-password").read_text().strip()
    assert password not in table.stdout + result.stdout


def test_logs_lists_the_parts_and_prints_one(stack: RunningStack) -> None:
    listed = run(stack, "logs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {"proxy", "legacy", "postgres", "kafka", "pricing", "acl", "cdc-relay"} <= {
        r["part"] for r in json.loads(listed.stdout)
    }
    proxy_log = run(stack, "logs", "proxy")
    assert proxy_log.returncode == 0 and '"msg": "proxy listening"' in proxy_log.stdout
    unknown = run(stack, "logs", "nginx")
    assert unknown.returncode == 2 and "proxy" in unknown.stderr


def test_export_apply_round_trip_and_a_non_interactive_apply(
    stack: RunningStack, table_restored: Path, tmp_path: Path
) -> None:
    result = run(stack, "routes", "apply", str(table_restored), "--yes", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["changes"] == []
    changed = tmp_path / "changed.yaml"
    changed.write_text("routes:\n  - {methods: [GET], path: /api/items/, mode: retired, pointer: /gone/}\n")
    result = run(stack, "routes", "apply", str(changed), "--json")
    assert result.returncode == 6 and result.stdout == "" and "--yes" in result.stderr
    assert httpx.get(f"{stack.endpoints['proxy']}/api/items/", timeout=10).status_code == 200
    offline = subprocess.run(
        strangler("routes", "validate", str(changed)),
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert offline.returncode == 0, offline.stderr


def test_the_readme_first_five_minutes(stack: RunningStack, table_restored: Path) -> None:
    assert run(stack, "status").returncode == 0
    assert upstream(stack) == "legacy"
    flip = run(stack, "routes", "set", RATE, "--mode", "new", "--service", "pricing", "--reason", "first flip")
    assert flip.returncode == 0, flip.stderr
    wait_until(lambda: upstream(stack) == "pricing", timeout=30, what="the flip to pricing", interval=0.1)
    back = run(stack, "routes", "rollback", "--reason", "back to legacy")
    assert back.returncode == 0, back.stderr
    wait_until(lambda: upstream(stack) == "legacy", timeout=30, what="the flip back", interval=0.1)
    history = run(stack, "routes", "history", "--json")
    reasons = [v["reason"] for v in json.loads(history.stdout)["versions"][:2]]
    assert reasons == ["back to legacy", "first flip"]
    logs = run(stack, "logs", "proxy", "-n", "50")
    assert "route table changed" in logs.stdout


def _readme_event_snippet() -> str:
    found = re.search(r"python - <<'PY'\n(.*?)\nPY\n", README.read_text(), re.S)
    assert found, "the README's walkthrough reads an event with a python snippet"
    return found.group(1)


def test_the_readme_event_snippet_prints_the_registered_player(stack: RunningStack) -> None:
    from kafka import KafkaConsumer

    snippet = _readme_event_snippet()
    assert "127.0.0.1:19092" in snippet and "ada_lovelace" in snippet
    created = httpx.post(
        f"{stack.endpoints['proxy']}/api/players/",
        timeout=10,
        json={"name": "ada_lovelace", "password": "analytical-engine"},
    )
    assert created.status_code == 201, created.text
    consumer = KafkaConsumer(
        "smp.players.v1",
        bootstrap_servers=stack.endpoints["kafka"],
        group_id=None,
        auto_offset_reset="earliest",
        consumer_timeout_ms=500,
    )
    try:
        wait_until(
            lambda: any(b"ada_lovelace" in record.value for record in consumer),
            timeout=60,
            what="PlayerRegistered of ada_lovelace",
            interval=0.1,
        )
    finally:
        consumer.close()
    script = snippet.replace("127.0.0.1:19092", stack.endpoints["kafka"])
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    event = json.loads(result.stdout.strip().splitlines()[-1])
    assert event["type"] == "smp.players.PlayerRegistered.v1" and event["data"]["name"] == "ada_lovelace"
