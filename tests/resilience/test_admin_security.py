"""The control plane, tried as an attacker would: the admin API and metrics
answer on their own loopback listener only, every authenticated endpoint
refuses no token, a wrong token and another stack's token, failed attempts
are throttled per client address, and no token ever shows in the proxy's
log or in an error body.

The endpoints are read from ``strangler_proxy/admin.py``'s docstring table,
so a new endpoint is covered the day it is documented.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from frontdoor_support import (
    OTHER_STACK_TOKEN,
    TOKEN,
    FrontDoor,
    RecordingUpstream,
    exchange,
    request,
    start_front_door,
)
from typer.testing import CliRunner

import strangler_proxy.admin
from strangler_cli.exit_codes import ExitCode
from strangler_cli.main import app
from strangler_proxy.settings import ProxySettings

OPEN = [("GET", "/_strangler/health"), ("GET", "/_strangler/metrics")]


def documented_endpoints() -> list[tuple[str, str]]:
    """``(method, path)`` of every row in the admin module's endpoint table."""
    doc = strangler_proxy.admin.__doc__ or ""
    rows = re.findall(r"^(GET|PUT|POST|DELETE|PATCH)\s+(/_strangler/\S+)", doc, flags=re.MULTILINE)
    return [(method, path) for method, path in rows if (method, path) not in OPEN]


ENDPOINTS = documented_endpoints()
BAD_CREDENTIALS = {
    "no-token": {},
    "wrong-token": {"authorization": f"Bearer {TOKEN}x"},
    "other-stacks-token": {"authorization": f"Bearer {OTHER_STACK_TOKEN}"},
    "token-as-basic": {"authorization": f"Basic {TOKEN}"},
    "bearer-without-token": {"authorization": "Bearer"},
}


@pytest.fixture(scope="module")
def admin_door(
    recording_upstream: RecordingUpstream, control_dsn_module: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FrontDoor]:
    """A proxy whose throttle is out of the way (the refusal matrix is long)."""
    log = Path(tmp_path_factory.mktemp("admin")) / "proxy.log"
    door = start_front_door(recording_upstream.url, control_dsn_module, log, STRANGLER_ADMIN_AUTH_BURST="10000")
    yield door
    door.process.stop()


@pytest.fixture
def throttled_door(
    recording_upstream: RecordingUpstream, control_dsn_module: str, tmp_path: Path
) -> Iterator[FrontDoor]:
    """Three failed attempts per address, one back every 30 s (the refill
    itself is unit-tested on a fake clock: test_proxy_admin_throttle.py)."""
    door = start_front_door(
        recording_upstream.url,
        control_dsn_module,
        tmp_path / "throttled.log",
        STRANGLER_ADMIN_AUTH_BURST="3",
        STRANGLER_ADMIN_AUTH_REFILL_S="30",
    )
    yield door
    door.process.stop()


def call(
    door: FrontDoor, method: str, path: str, headers: dict[str, str], *, source: str | None = None
) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source) if source else None
    with httpx.Client(transport=transport, timeout=5) as client:
        return client.request(method, door.admin_url + path, headers=headers, json={} if method != "GET" else None)


def test_the_endpoint_table_was_read() -> None:
    assert len(ENDPOINTS) >= 9 and ("POST", "/_strangler/routes/rollback") in ENDPOINTS


@pytest.mark.parametrize("credentials", list(BAD_CREDENTIALS), ids=list(BAD_CREDENTIALS))
@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=[f"{m} {p}" for m, p in ENDPOINTS])
def test_every_admin_endpoint_refuses_bad_credentials(
    admin_door: FrontDoor, method: str, path: str, credentials: str
) -> None:
    headers = BAD_CREDENTIALS[credentials]
    response = call(admin_door, method, path, headers)
    assert response.status_code in (401, 403), response.text
    given = headers.get("authorization", "").partition(" ")[2]
    assert TOKEN not in response.text and (not given or given not in response.text)


def test_the_right_token_is_accepted_and_the_open_endpoints_need_none(admin_door: FrontDoor) -> None:
    assert call(admin_door, "GET", "/_strangler/routes", {"authorization": f"Bearer {TOKEN}"}).status_code == 200
    for method, path in OPEN:
        assert call(admin_door, method, path, {}).status_code == 200


def test_the_admin_listener_serves_only_the_admin_api(admin_door: FrontDoor) -> None:
    assert call(admin_door, "GET", "/api/items/", {"authorization": f"Bearer {TOKEN}"}).status_code == 404
    reply = exchange(
        admin_door.admin_port,
        request("POST", "/_strangler/routes", {"Content-Length": "5", "Transfer-Encoding": "chunked"}),
    )
    assert reply.status == 400 and reply.closed


def test_the_public_port_treats_strangler_paths_like_any_other(
    admin_door: FrontDoor, recording_upstream: RecordingUpstream
) -> None:
    """No admin API on the front door: the request is routed (here to the
    legacy upstream, which answers it), whatever token it carries."""
    mark = recording_upstream.recorder.count()
    for path in ("/_strangler/routes", "/_strangler/health", "/_strangler/metrics"):
        response = httpx.get(admin_door.url + path, headers={"authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert response.status_code == 200 and response.headers["x-strangler-upstream"] == "legacy"
        assert response.json()["path"] == path
    assert len(recording_upstream.recorder.since(mark)) == 3


def test_the_admin_listener_is_loopback_by_default() -> None:
    fields = ProxySettings.__dataclass_fields__
    assert fields["admin_host"].default == "127.0.0.1"
    assert fields["admin_port"].default != fields["port"].default


def test_failed_token_attempts_are_throttled_per_address(throttled_door: FrontDoor) -> None:
    wrong = {"authorization": f"Bearer {OTHER_STACK_TOKEN}"}
    right = {"authorization": f"Bearer {TOKEN}"}
    statuses = [call(throttled_door, "GET", "/_strangler/routes", wrong).status_code for _ in range(3)]
    assert statuses == [403, 403, 403]
    throttled = call(throttled_door, "GET", "/_strangler/routes", right)
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
    assert TOKEN not in throttled.text
    assert call(throttled_door, "GET", "/_strangler/health", {}).status_code == 200, "health is never throttled"
    if loopback_alias_works():
        other = call(throttled_door, "GET", "/_strangler/routes", right, source="127.0.0.2")
        assert other.status_code == 200, "another address is not throttled"
    assert "admin API throttled" in throttled_door.log() and TOKEN not in throttled_door.log()


def loopback_alias_works() -> bool:
    """Can this host originate from 127.0.0.2 (Linux: the whole 127/8 is local)?"""
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.2", 0))
        return True
    except OSError:
        return False


def test_the_cli_refuses_another_stacks_token_and_never_prints_it(admin_door: FrontDoor) -> None:
    result = CliRunner().invoke(
        app, ["routes", "list", "--url", admin_door.admin_url, "--token", OTHER_STACK_TOKEN], env={"COLUMNS": "200"}
    )
    assert result.exit_code == ExitCode.UNAUTHORISED
    assert OTHER_STACK_TOKEN not in result.output and TOKEN not in result.output


def test_no_token_ever_reaches_the_log(admin_door: FrontDoor) -> None:
    """Runs after the tests above have used the right and the wrong tokens
    on both listeners, with the access log on."""
    log = admin_door.log()
    assert "admin API refused" in log, "the refusals were logged (so the log was read)"
    for secret in (TOKEN, OTHER_STACK_TOKEN):
        assert secret not in log
