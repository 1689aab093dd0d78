"""``strangler identity ...``: the keys of the signed identity header.

The proxy signs ``X-Strangler-Identity`` with the active key of
``<state>/identity-keys.json`` (or ``STRANGLER_IDENTITY_KEYS``); the new
services verify it with any key the file still holds. ``rotate-key`` adds a
new signing key and keeps the previous ones (dropping keys replaced longer
than ``--retire-after`` ago), writing the file atomically. Nothing restarts:
readers reload the file when it changes (within about a second), and the
proxy keeps signing with the previous key for two more seconds so no service
sees a key before it has loaded it. Secrets are never printed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from strangler_cli.exit_codes import ExitCode
from strangler_cli.output import cells, console, examples, fail, print_json, say
from strangler_cli.state import JsonOpt, StateOpt

identity_app = typer.Typer(help="Keys of the signed identity header the proxy forwards to new services.")

KeysOpt = typer.Option(
    None, "--keys", help="Key file (else STRANGLER_IDENTITY_KEYS, else <state-dir>/identity-keys.json)."
)


def key_file(keys: Path | None, state_dir: Path) -> Path:
    path = keys or Path(os.environ.get("STRANGLER_IDENTITY_KEYS") or state_dir / "identity-keys.json")
    if not path.exists():
        fail(f"no identity key file at {path} (`strangler up` creates it; or pass --keys)", ExitCode.FAILURE)
    return path


def describe(path: Path) -> dict[str, Any]:
    """The key file without its secrets: active key id and each key's dates."""
    try:
        document = json.loads(path.read_text())
        keys = {
            kid: {"created": entry.get("created"), "replaced": entry.get("replaced")}
            for kid, entry in document["keys"].items()
        }
        return {"file": str(path), "active": document["active"], "keys": keys}
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
        fail(f"{path}: not an identity key file: {exc}", ExitCode.FAILURE)


def _show(data: dict[str, Any], title: str) -> None:
    table = Table(title=title)
    for col in ("key", "active", "created", "replaced"):
        table.add_column(col)
    for kid, entry in sorted(data["keys"].items()):
        table.add_row(*cells(kid, "yes" if kid == data["active"] else "", entry["created"], entry["replaced"]))
    console.print(table)


@identity_app.command(
    "rotate-key",
    epilog=examples("strangler identity rotate-key", "strangler identity rotate-key --retire-after 600 --json"),
)
def rotate_key(
    retire_after: int = typer.Option(
        3600, "--retire-after", min=0, help="Drop keys replaced more than this many seconds ago."
    ),
    keys: Path | None = KeysOpt,
    state_dir: Path = StateOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Add a new signing key without downtime; earlier keys stay accepted."""
    from new_services.platform.identity import IdentityError, rotate

    path = key_file(keys, state_dir)
    try:
        new_kid = rotate(path, retire_after_s=retire_after)
    except (IdentityError, OSError) as exc:
        fail(str(exc), ExitCode.FAILURE)
    data = describe(path) | {"rotated_to": new_kid}
    if as_json:
        print_json(data)
        return
    _show(data, f"identity keys in {path}")
    say(f"signing with {new_kid} within ~3 s; headers signed with the earlier keys stay valid until they expire")


@identity_app.command("keys", epilog=examples("strangler identity keys", "strangler identity keys --json"))
def list_keys(keys: Path | None = KeysOpt, state_dir: Path = StateOpt, as_json: bool = JsonOpt) -> None:
    """Show the key ids (never the secrets), which one signs, and their dates."""
    data = describe(key_file(keys, state_dir))
    if as_json:
        print_json(data)
    else:
        _show(data, f"identity keys in {data['file']}")
