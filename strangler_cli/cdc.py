"""``strangler cdc status``: what the CDC relay captured, per table.

Reads the relay's status file (``<state-dir>/cdc/status.json``, written about
once a second by ``python -m acl.relay``) and asks the legacy PostgreSQL (DSN
from ``<state-dir>/endpoints.json`` ``databases.legacy``, or
``STRANGLER_LEGACY_DATABASE_URL``) how much WAL the replication slot retains.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from strangler_cli.exit_codes import ExitCode
from strangler_cli.output import cells, console, examples, fail, say
from strangler_cli.state import JsonOpt, StateOpt

cdc_app = typer.Typer(help="Change data capture from the legacy database.", no_args_is_help=True)


def _legacy_dsn(state_dir: Path) -> str | None:
    try:
        endpoints = json.loads((state_dir / "endpoints.json").read_text())
        dsn = endpoints.get("databases", {}).get("legacy")
        if dsn:
            return str(dsn)
    except (OSError, ValueError):
        pass
    return os.environ.get("STRANGLER_LEGACY_DATABASE_URL") or None


def _lsn(value: int | None) -> str | None:
    """PostgreSQL's ``X/Y`` notation for a numeric LSN."""
    return None if value is None else f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def slot_info(dsn: str, slot: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT active, confirmed_flush_lsn::text, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint"
            " FROM pg_replication_slots WHERE slot_name = %s",
            (slot,),
        ).fetchone()
    if row is None:
        return {"name": slot, "exists": False}
    return {
        "name": slot,
        "exists": True,
        "active": row[0],
        "confirmed_flush_lsn": row[1],
        "retained_wal_bytes": int(row[2]),
    }


def collect(state_dir: Path) -> dict[str, Any]:
    """Everything ``cdc status`` shows, as one JSON-able dict."""
    from acl.relay_status import read_status

    status = read_status(state_dir / "cdc")
    if status is None:
        fail(
            f"no relay status in {state_dir / 'cdc'}: is the stack (`strangler up`) or `python -m acl.relay` running?",
            ExitCode.UNREACHABLE,
        )
    now_ms = int(time.time() * 1000)
    tables = {}
    for name, entry in status["tables"].items():
        ts = entry.get("last_source_ts_ms")
        tables[name] = {
            **entry,
            "last_lsn_text": _lsn(entry.get("last_lsn")),
            "lag_ms": None if ts is None else max(0, now_ms - int(ts)),
        }
    relay = status["relay"]
    result: dict[str, Any] = {
        "relay": {**relay, "status_age_ms": now_ms - int(relay["updated_at_ms"])},
        "tables": tables,
    }
    dsn = _legacy_dsn(state_dir)
    try:
        result["slot"] = slot_info(dsn, relay["slot"]) if dsn else {"name": relay["slot"], "error": "no legacy DSN"}
    except Exception as exc:
        result["slot"] = {"name": relay["slot"], "error": str(exc)}
    return result


def _human_ms(ms: int | None) -> str:
    if ms is None:
        return "-"
    return f"{ms} ms" if ms < 10_000 else f"{ms / 1000:.0f} s"


@cdc_app.command("status", epilog=examples("strangler cdc status", "strangler cdc status --json"))
def status(state_dir: Path = StateOpt, as_json: bool = JsonOpt) -> None:
    """Per table: snapshot state, last LSN, events relayed, lag; plus the slot's retained WAL."""
    data = collect(state_dir)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    relay, slot = data["relay"], data["slot"]
    console.print(
        Text(f"relay pid {relay['pid']} ")
        + Text(str(relay["state"]), style="bold")
        + Text(
            f", {relay['events_relayed']} records relayed, status {_human_ms(relay['status_age_ms'])} old, "
            f"re-snapshots {relay['resnapshots']}"
        ),
        highlight=False,
    )
    if slot.get("exists"):
        say(
            f"slot {slot['name']}: active={slot['active']}, confirmed {slot['confirmed_flush_lsn']}, "
            f"retained WAL {slot['retained_wal_bytes'] / 1024:.0f} KiB"
        )
    else:
        say(f"slot {slot['name']}: {slot.get('error') or 'missing'}")
    table = Table("table", "snapshot", "last LSN", "events", "lag")
    for name, entry in data["tables"].items():
        table.add_row(
            *cells(name, entry["snapshot"], entry["last_lsn_text"] or "-", entry["events"], _human_ms(entry["lag_ms"]))
        )
    console.print(table)
