"""``strangler demo`` on the session's shared stack: the story runs to its
end (pricing at new, the market's writes at new, each stage named), and a
Ctrl-C mid-story stops it cleanly (exit 130, traffic stopped, routes at a
plan stage, the stack it did not start still up). Leaves every route at
legacy when it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from stack_support import RunningStack, admin, set_table, strangler

from local_stack.processes import wait_until

REPO = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT = 420  # a bound on one demo run (3-4.5 min on a loaded 2-core machine)
#: The first test may also start the session's stack (minutes on a loaded machine).
pytestmark = pytest.mark.timeout(DEMO_TIMEOUT + 300)


def demo(stack: RunningStack, *extra: str) -> subprocess.Popen[str]:
    env = stack.env | {"PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return subprocess.Popen(
        strangler(
            "demo", "--use-running", "--pace", "1", "--gate-wait", "5", "--state-dir", str(stack.state_dir), *extra
        ),
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: anything it leaves behind is findable
    )


def left_behind(group: int) -> list[int]:
    """Processes still in process group ``group``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) == group:  # the field after state and ppid: pgrp
            found.append(int(stat.parent.name))
    return found


def live_routes(stack: RunningStack) -> dict[str, dict]:
    with admin(stack) as client:
        routes = client.get("/_strangler/routes").json()["routes"]
    return {r["path"]: r for r in routes}


@pytest.fixture
def at_legacy(stack: RunningStack) -> Iterator[RunningStack]:
    set_table(stack, [], "e2e: demo starts at legacy")
    yield stack
    set_table(stack, [], "e2e: demo ends at legacy")


def test_the_demo_tells_the_whole_story_and_leaves_routes_where_it_says(at_legacy: RunningStack) -> None:
    stack = at_legacy
    process = demo(stack)
    try:
        output, _ = process.communicate(timeout=DEMO_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)  # its own clean stop, so the output says where it was
        output, _ = process.communicate(timeout=60)
        pytest.fail(f"the demo did not finish within {DEMO_TIMEOUT} s:\n{output}")
    assert process.returncode == 0, output

    for told in (
        "1. the stack: where to look",
        stack.endpoints["proxy"],
        "strangler plan status",
        "2. steady traffic through the proxy",
        "3. pricing: shadow -> canary -> new",
        "legacy -> shadow",
        "shadow -> canary-5",
        "canary-5 -> canary-50",
        "canary-50 -> new",
        "4. market: its write routes flip to the market service",
        "answered by market",
        "in the market service's store (sales): yes",
        "in the monolith's table (smp_sale): yes",
        "5. the audit history",
        "what to try next",
        "traffic stopped",
    ):
        assert told in output, f"{told!r} not in the demo's output:\n{output}"
    assert output.count("traffic: ") >= 5, output  # one summary per stage

    routes = live_routes(stack)
    for path in ("/api/items/{id}/rate/", "/api/items/{id}/history/"):
        assert routes[path]["mode"] == "new" and routes[path]["service"] == "pricing", routes[path]
    for path in ("/api/listings/", "/api/listings/{id}/cancel/", "/api/sales/"):
        writes = [r for r in routes.values() if r["path"] == path and "POST" in r["methods"]]
        assert writes and writes[0]["mode"] == "new" and writes[0]["service"] == "market", routes


def test_ctrl_c_mid_demo_stops_traffic_and_leaves_the_stack_up(at_legacy: RunningStack) -> None:
    stack = at_legacy
    process = demo(stack)
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    # Mid-story: pricing is in shadow, traffic flowing.
    wait_until(lambda: any("legacy -> shadow" in line for line in lines), timeout=120, what="the demo's first step")
    os.kill(process.pid, signal.SIGINT)
    assert process.wait(timeout=60) in (130, 0)
    reader.join(timeout=10)
    output = "".join(lines)
    assert "interrupted (Ctrl-C): stopping cleanly" in output, output
    assert "traffic stopped" in output and "the story stopped at: pricing" in output, output

    # Its traffic ran in threads of the process that exited, and nothing of its
    # own (no traffic process) is left to send more.
    assert left_behind(process.pid) == []
    # The stack it attached to is still up, routes at a plan stage.
    assert stack.process.poll() is None
    assert httpx.get(f"{stack.endpoints['proxy']}/api/items/1/rate/", timeout=10).status_code == 200
    assert live_routes(stack)["/api/items/{id}/rate/"]["mode"] in ("shadow", "canary", "new")
