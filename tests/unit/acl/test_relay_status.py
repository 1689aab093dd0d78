"""The relay's status file: what ``strangler cdc status`` shows per table."""

from __future__ import annotations

import json
from pathlib import Path

from acl.relay_status import RelayStatus, read_status
from acl.topics import HEARTBEAT_TOPIC

TABLES = {"smp_plyr": "legacy.public.smp_plyr", "smp_sale": "legacy.public.smp_sale"}


def change(snapshot: str | bool, lsn: int) -> str:
    return json.dumps(
        {
            "op": "r" if snapshot not in (False, "false") else "c",
            "after": {"id": 1},
            "source": {"snapshot": snapshot, "lsn": lsn, "ts_ms": 1_700_000_000_000},
        }
    )


def written(status: RelayStatus, state_dir: Path) -> dict:
    status.write()
    return read_status(state_dir)  # type: ignore[return-value]


def test_snapshot_rows_then_live_changes(tmp_path: Path) -> None:
    status = RelayStatus(tmp_path, "slot", TABLES)
    status.record("legacy.public.smp_plyr", 2, change("true", 10))
    assert written(status, tmp_path)["tables"]["smp_plyr"]["snapshot"] == "running"
    status.record("legacy.public.smp_plyr", 1, change("last", 11))
    status.record("legacy.public.smp_sale", 1, change(False, 12))
    out = written(status, tmp_path)
    assert out["tables"]["smp_plyr"]["snapshot"] == "done"
    assert out["tables"]["smp_sale"] == {
        **out["tables"]["smp_sale"],
        "snapshot": "streaming",
        "events": 1,
        "last_lsn": 12,
    }
    assert out["relay"]["state"] == "streaming" and out["relay"]["events_relayed"] == 4


def test_a_heartbeat_ends_the_snapshot_of_tables_found_empty(tmp_path: Path) -> None:
    """An empty table emits no snapshot row; without this it stayed
    'pending' forever on a fresh stack."""
    status = RelayStatus(tmp_path, "slot", TABLES)
    status.set_state("running")
    status.record(HEARTBEAT_TOPIC, 1, '{"ts_ms": 1700000000000}')
    out = written(status, tmp_path)
    assert {t["snapshot"] for t in out["tables"].values()} == {"done"}
    assert out["relay"]["state"] == "streaming" and out["relay"]["last_heartbeat_ms"] is not None
    assert all(t["events"] == 0 for t in out["tables"].values())
