"""Fixtures for the ACL unit tests: payloads captured from the real Debezium
connector by tests/fixtures/debezium/capture.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CAPTURED = Path(__file__).resolve().parents[2] / "fixtures" / "debezium" / "captured.json"


@pytest.fixture(scope="session")
def captured() -> dict[str, list[dict[str, Any]]]:
    return json.loads(CAPTURED.read_text())  # type: ignore[no-any-return]
