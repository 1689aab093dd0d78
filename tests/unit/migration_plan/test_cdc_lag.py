"""The CDC-lag figure the plan's ``max_cdc_lag_s`` gate judges, read from
the relay's status file: a quiet table on a streaming relay is not behind,
a recent live change says how far behind it was, a silent relay is behind
by its silence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from acl.relay_status import status_file
from migration_plan.engine import LAG_WINDOW_S, cdc_lag

NOW_MS = 1_800_000_000_000.0


def write_status(state_dir: Path, state: str, tables: dict[str, dict[str, Any]], updated_ago_s: float = 0.5) -> None:
    relay = {"state": state, "updated_at_ms": NOW_MS - updated_ago_s * 1000}
    status_file(state_dir).write_text(json.dumps({"relay": relay, "tables": tables}))


def table(snapshot: str, source_ago_s: float, relayed_ago_s: float) -> dict[str, Any]:
    return {
        "snapshot": snapshot,
        "last_source_ts_ms": NOW_MS - source_ago_s * 1000,
        "last_relayed_at_ms": NOW_MS - relayed_ago_s * 1000,
    }


def test_no_status_file_gives_no_figure(tmp_path: Path) -> None:
    lag, detail = cdc_lag(tmp_path, ("smp_sale",), now_ms=NOW_MS)
    assert lag is None and "no relay status" in detail


def test_a_snapshot_rows_delay_does_not_count_once_the_relay_streams(tmp_path: Path) -> None:
    # The snapshot's last row was relayed 43 s after the snapshot started, ten minutes ago.
    write_status(tmp_path, "streaming", {"smp_itm": table("done", 643, 600)})
    lag, detail = cdc_lag(tmp_path, ("smp_itm",), now_ms=NOW_MS)
    assert lag == 0.0 and "relay streaming" in detail


def test_a_recent_live_change_gives_its_delay(tmp_path: Path) -> None:
    write_status(tmp_path, "streaming", {"smp_sale": table("streaming", 2.25, 2.0), "smp_itm": table("done", 700, 650)})
    lag, detail = cdc_lag(tmp_path, ("smp_sale", "smp_itm"), now_ms=NOW_MS)
    assert lag == pytest.approx(0.25) and "after its commit" in detail


def test_a_live_change_older_than_the_window_no_longer_counts(tmp_path: Path) -> None:
    write_status(tmp_path, "streaming", {"smp_sale": table("streaming", LAG_WINDOW_S + 9, LAG_WINDOW_S + 1)})
    assert cdc_lag(tmp_path, ("smp_sale",), now_ms=NOW_MS)[0] == 0.0


def test_while_the_snapshot_runs_its_progress_is_the_lag(tmp_path: Path) -> None:
    write_status(tmp_path, "snapshotting", {"smp_sale": table("running", 30, 0.5)})
    lag, detail = cdc_lag(tmp_path, ("smp_sale",), now_ms=NOW_MS)
    assert lag == pytest.approx(29.5) and "snapshot" in detail


def test_a_relay_that_stopped_reporting_is_behind_by_its_silence(tmp_path: Path) -> None:
    write_status(tmp_path, "streaming", {"smp_sale": table("streaming", 40.1, 40)}, updated_ago_s=40)
    lag, detail = cdc_lag(tmp_path, ("smp_sale",), now_ms=NOW_MS)
    assert lag == pytest.approx(40.1) and "40 s old" in detail
