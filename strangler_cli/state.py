"""The state directory of ``strangler up`` as the CLI reads it, and the
options every command shares.

``endpoints.json`` exists only while a stack runs (``strangler up`` removes
it when it stops), so a missing file means "not running": exit code 3.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from strangler_cli.exit_codes import ExitCode
from strangler_cli.output import fail

StateOpt = typer.Option(Path(".strangler"), "--state-dir", help="State directory of `strangler up`.")
JsonOpt = typer.Option(False, "--json", help="Print JSON instead of a table.")


def endpoints_or_none(state_dir: Path) -> dict[str, Any] | None:
    """``endpoints.json`` as a dict, or None if there is no (readable) file."""
    try:
        data = json.loads((state_dir / "endpoints.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_endpoints(state_dir: Path) -> dict[str, Any]:
    """``endpoints.json``, or exit 3 saying how to get one."""
    data = endpoints_or_none(state_dir)
    if data is None:
        fail(
            f"no running stack: {state_dir / 'endpoints.json'} not found (run `strangler up`, or pass --state-dir)",
            ExitCode.UNREACHABLE,
        )
    return data
