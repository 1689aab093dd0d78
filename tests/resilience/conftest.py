"""Fixtures of the resilience suite's front-door tests (helpers live in
``frontdoor_support.py``, a uniquely named module)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from frontdoor_support import FrontDoor, RecordingUpstream, start_front_door, start_recording_upstream


@pytest.fixture(scope="module")
def recording_upstream() -> Iterator[RecordingUpstream]:
    upstream = start_recording_upstream()
    yield upstream
    upstream.close()


@pytest.fixture(scope="module")
def control_dsn_module(postgres_server: Any) -> str:
    return str(postgres_server.create_database(f"frontdoor_{uuid.uuid4().hex[:12]}"))


@pytest.fixture(scope="module")
def front_door(
    recording_upstream: RecordingUpstream, control_dsn_module: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FrontDoor]:
    """One proxy per test module, in front of the recording upstream."""
    log = Path(tmp_path_factory.mktemp("frontdoor")) / "proxy.log"
    door = start_front_door(recording_upstream.url, control_dsn_module, log)
    yield door
    door.process.stop()
