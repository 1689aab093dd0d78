"""``strangler up`` as a user runs it: a real process tree on loopback.

The session's seeded stack (``conftest.py``) is reused by the checks that
only look at it; the lifecycle checks (restart keeps data, SIGKILL leaves no
orphans) start their own.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from stack_support import RunningStack, stack_env, start_stack, stop_stack, strangler, wait_dead


def test_endpoints_file_names_every_part(stack: RunningStack) -> None:
    endpoints = stack.endpoints
    assert endpoints["legacy"].startswith("http://127.0.0.1:")
    assert endpoints["proxy"].startswith("http://127.0.0.1:")
    assert endpoints["proxy_admin"].startswith("http://127.0.0.1:") and endpoints["proxy_admin"] != endpoints["proxy"]
    assert endpoints["databases"]["legacy"].startswith("postgresql://")
    assert set(endpoints["processes"]) >= {"postgres", "legacy", "proxy", "pricing", "pricing-projector"}
    assert endpoints["services"]["pricing"].startswith("http://127.0.0.1:")
    assert (stack.state_dir / "endpoints.json").stat().st_mode & 0o777 == 0o600  # service DSNs hold passwords
    for secret in ("admin-token", "admin-password", "django-secret-key"):
        assert (stack.state_dir / secret).stat().st_mode & 0o777 == 0o600, secret


def test_the_admin_api_answers_on_its_own_listener_only(stack: RunningStack) -> None:
    """On the public port /_strangler/ is an ordinary path (the monolith's 404)."""
    endpoints = stack.endpoints
    assert httpx.get(f"{endpoints['proxy_admin']}/_strangler/health", timeout=10).status_code == 200
    public = httpx.get(f"{endpoints['proxy']}/_strangler/health", timeout=10)
    assert public.status_code == 404 and public.headers["x-strangler-upstream"] == "legacy"


def test_the_admin_logs_in_with_the_generated_password(stack: RunningStack) -> None:
    legacy = stack.endpoints["legacy"]
    password = (stack.state_dir / "admin-password").read_text().strip()
    with httpx.Client(base_url=legacy, timeout=10, follow_redirects=False) as client:
        login_page = client.get("/admin/login/")
        csrf = client.cookies["csrftoken"]
        response = client.post(
            "/admin/login/?next=/admin/",
            data={"username": "admin", "password": password, "csrfmiddlewaretoken": csrf, "next": "/admin/"},
            headers={"Referer": f"{legacy}/admin/login/"},
        )
        assert login_page.status_code == 200
        assert response.status_code == 302 and response.headers["location"] == "/admin/"
        assert client.get("/admin/").status_code == 200


def test_the_proxy_serves_the_monolith(stack: RunningStack) -> None:
    response = httpx.get(f"{stack.endpoints['proxy']}/api/items/", timeout=10)
    assert response.status_code == 200
    assert response.headers.get("x-strangler-upstream") == "legacy"


def test_a_second_stack_on_the_same_state_dir_is_refused(stack: RunningStack) -> None:
    result = subprocess.run(
        strangler("up", "--state-dir", str(stack.state_dir)),
        env=stack_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "in use by another running stack" in result.stdout + result.stderr
    # the running stack is untouched
    assert httpx.get(f"{stack.endpoints['legacy']}/admin/login/", timeout=10).status_code == 200
    assert (stack.state_dir / "endpoints.json").exists()


def test_a_busy_port_is_refused_in_one_line(stack: RunningStack, tmp_path: Path) -> None:
    env = stack_env()
    env["STRANGLER_LEGACY_PORT"] = stack.endpoints["legacy"].rsplit(":", 1)[1]
    result = subprocess.run(
        strangler("up", "--state-dir", str(tmp_path / "other")),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "already in use" in result.stderr
    assert len([line for line in result.stderr.splitlines() if "strangler up:" in line]) == 1


def test_restart_keeps_data_and_stop_leaves_no_process(tmp_path: Path) -> None:
    env = stack_env()
    state_dir = tmp_path / "state"
    first = start_stack(state_dir, env, "--seed-sales", "300")
    legacy = first.endpoints["legacy"]
    secrets = [(state_dir / name).read_text().strip() for name in ("admin-token", "admin-password", "demo-token")]
    created = httpx.post(
        f"{legacy}/api/players/",
        json={"name": "Keeper", "email": "k@example.com", "password": "s3cret-pass-word"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    pids = list(first.endpoints["processes"].values())
    code, output = stop_stack(first)
    assert code == 0, output
    assert "seeded" in output
    assert not [secret for secret in secrets if secret in output], "a secret was printed"
    assert wait_dead(pids) == []
    assert not (state_dir / "endpoints.json").exists()

    second = start_stack(state_dir, env)
    try:
        player_id = created.json()["id"]
        again = httpx.get(f"{second.endpoints['legacy']}/api/players/{player_id}/", timeout=10)
        assert again.status_code == 200
        assert again.json()["name"] == "Keeper"
    finally:
        pids = list(second.endpoints["processes"].values())
        stop_stack(second)
    assert wait_dead(pids) == []


def test_sigkill_of_the_launcher_leaves_no_orphans(tmp_path: Path) -> None:
    running = start_stack(tmp_path / "state", stack_env())
    pids = list(running.endpoints["processes"].values())
    stop_stack(running, signal.SIGKILL)
    assert wait_dead(pids) == [], "children outlived a SIGKILLed launcher"


def _domain_events(bootstrap: str, topic: str, *, want: Callable[[dict], bool], timeout: float) -> list[dict]:
    """Read ``topic`` from the start until an event satisfies ``want``."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
        metadata_max_age_ms=1000,
    )
    seen: list[dict] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in consumer:
                event = json.loads(record.value)
                seen.append(event)
                if want(event):
                    return seen
        return seen
    finally:
        consumer.close()


def test_a_write_through_the_proxy_becomes_a_domain_event(stack: RunningStack) -> None:
    endpoints = stack.endpoints
    created = httpx.post(
        f"{endpoints['proxy']}/api/players/",
        json={"name": "Eventful", "email": "e@example.com", "password": "s3cret-pass-word"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    subject = f"players/{created.json()['id']}"

    def registered(event: dict) -> bool:
        return event["type"] == "smp.players.PlayerRegistered.v1" and event["subject"] == subject

    events = _domain_events(endpoints["kafka"], "smp.players.v1", want=registered, timeout=60)
    matching = [event for event in events if registered(event)]
    assert matching, f"no PlayerRegistered for {subject} among {len(events)} events"
    assert matching[0]["specversion"] == "1.0"
    assert matching[0]["data"]["name"] == "Eventful"
