"""The running relay when the embedded broker restarts under it (memory
storage: every topic gone): it notices the missing marker topic, exits
with code 1 (``strangler up`` restarts it). That the restarted relay
re-snapshots is ``test_crash_recovery.py::test_lost_broker_triggers_a_resnapshot``."""

from __future__ import annotations

from typing import Any

from acl_stack_helpers import Stack

from local_stack.processes import wait_until


def relay_status(stack: Stack) -> dict[str, Any] | None:
    try:
        return dict(stack.status()["relay"])
    except (OSError, ValueError, KeyError):
        return None


def test_the_running_relay_exits_non_zero_when_the_broker_loses_its_topics(
    stack: Stack,
) -> None:
    stack.relay.start()
    wait_until(lambda: (relay_status(stack) or {}).get("state") == "streaming", timeout=90, what="relay streaming")

    stack.kafka.stop()
    stack.kafka.start()  # same port, nothing kept

    wait_until(lambda: stack.relay.exit_code is not None, timeout=60, what="relay to exit after the broker loss")
    assert stack.relay.exit_code == 1
    assert "broker lost its topics" in stack.relay.log
