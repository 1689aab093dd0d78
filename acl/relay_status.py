"""What the relay has done, per table, written to ``<state>/status.json``
about once a second (atomic rename) for ``strangler cdc status``.

Shape::

    {"relay": {"pid", "state", "started_at_ms", "updated_at_ms", "slot",
               "events_relayed", "last_heartbeat_ms", "resnapshots",
               "syncback_transactions", "syncback_tagged"},
     "tables": {"smp_sale": {"topic", "snapshot", "events", "last_lsn",
                             "last_source_ts_ms", "last_relayed_at_ms"}}}

``snapshot`` is ``pending`` (nothing seen yet), ``running``, ``done`` (the
snapshot's last row for that table seen, or a heartbeat: the snapshot is
over, also for tables it found empty) or ``streaming`` (a live change seen).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from acl.topics import HEARTBEAT_TOPIC

_SNAPSHOT_LAST = {"last", "last_in_data_collection"}


def status_file(state_dir: Path) -> Path:
    return state_dir / "status.json"


def read_status(state_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads(status_file(state_dir).read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


class RelayStatus:
    """Thread-safe counters updated by the engine thread, flushed by a timer."""

    def __init__(self, state_dir: Path, slot: str, tables: dict[str, str]) -> None:
        self._path = status_file(state_dir)
        self._lock = threading.Lock()
        now = _now_ms()
        self._relay: dict[str, Any] = {
            "pid": os.getpid(),
            "state": "starting",
            "started_at_ms": now,
            "updated_at_ms": now,
            "slot": slot,
            "events_relayed": 0,
            "last_heartbeat_ms": None,
            "resnapshots": 0,
            "syncback_transactions": 0,
            "syncback_tagged": 0,
        }
        self._tables: dict[str, dict[str, Any]] = {
            table: {
                "topic": topic,
                "snapshot": "pending",
                "events": 0,
                "last_lsn": None,
                "last_source_ts_ms": None,
                "last_relayed_at_ms": None,
            }
            for table, topic in tables.items()
        }
        self._by_topic = {topic: table for table, topic in tables.items()}

    def set_state(self, state: str) -> None:
        with self._lock:
            self._relay["state"] = state

    def note_resnapshot(self) -> None:
        with self._lock:
            self._relay["resnapshots"] += 1

    def note_syncback(self, transactions: int, tagged: int) -> None:
        """Totals since start: sync-back transactions seen, records tagged."""
        with self._lock:
            self._relay["syncback_transactions"] = transactions
            self._relay["syncback_tagged"] = tagged

    def record(self, topic: str, count: int, last_value: str | None) -> None:
        """``count`` records went to ``topic``; ``last_value`` is the newest one."""
        now = _now_ms()
        with self._lock:
            self._relay["events_relayed"] += count
            table = self._by_topic.get(topic)
            if table is None:
                if topic == HEARTBEAT_TOPIC:
                    # Debezium sends heartbeats only while streaming: the
                    # snapshot is over, also for tables it found empty
                    # (they emit no row to say so).
                    self._relay["last_heartbeat_ms"] = now
                    self._streaming_started()
                return
            entry = self._tables[table]
            entry["events"] += count
            entry["last_relayed_at_ms"] = now
            source = _source_of(last_value)
            if source:
                entry["last_lsn"] = source.get("lsn")
                entry["last_source_ts_ms"] = source.get("ts_ms")
                snap = source.get("snapshot")
                if snap in (None, "false", False):
                    self._streaming_started()
                    entry["snapshot"] = "streaming"
                elif snap == "last":
                    self._snapshot_over()
                elif snap == "last_in_data_collection":
                    entry["snapshot"] = "done"
                elif entry["snapshot"] != "done":
                    entry["snapshot"] = "running"
                    self._relay["state"] = "snapshotting"

    def _streaming_started(self) -> None:
        """A live change or a heartbeat: the snapshot phase is behind us."""
        self._snapshot_over()
        self._relay["state"] = "streaming"

    def _snapshot_over(self) -> None:
        """The whole snapshot ended (or was done by an earlier run)."""
        for entry in self._tables.values():
            if entry["snapshot"] in ("pending", "running"):
                entry["snapshot"] = "done"

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            self._relay["updated_at_ms"] = _now_ms()
            return {"relay": dict(self._relay), "tables": {k: dict(v) for k, v in self._tables.items()}}

    def write(self) -> None:
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.snapshot(), indent=1))
        os.replace(tmp, self._path)


def _source_of(value: str | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        body = json.loads(value)
    except ValueError:
        return None
    source = body.get("source") if isinstance(body, dict) else None
    return source if isinstance(source, dict) else None


def _now_ms() -> int:
    return int(time.time() * 1000)
