"""The identity files of the state dir and ``strangler identity``."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cli_support import invoke

from local_stack.state_dir import StateDir
from new_services.platform.identity import Identity, KeyFile, sign, verify


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_state_dir_creates_the_internal_token_and_key_file_once_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STRANGLER_INTERNAL_TOKEN", raising=False)
    monkeypatch.delenv("STRANGLER_IDENTITY_KEYS", raising=False)
    state = StateDir(tmp_path / "state")
    state.path.mkdir()
    env = state.identity_env()
    assert env["STRANGLER_IDENTITY_KEYS"] == str(state.path / "identity-keys.json")
    assert env["STRANGLER_INTERNAL_TOKEN"] == (state.path / "internal-token").read_text().strip()
    assert len(env["STRANGLER_INTERNAL_TOKEN"]) >= 32
    assert mode_of(state.path / "internal-token") == mode_of(state.path / "identity-keys.json") == 0o600
    keyring = KeyFile(state.path / "identity-keys.json").keyring()
    assert state.identity_env() == env  # kept, not regenerated
    assert KeyFile(state.path / "identity-keys.json").keyring() == keyring


def test_rotate_key_adds_a_signing_key_and_keeps_the_old_one_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STRANGLER_IDENTITY_KEYS", raising=False)
    state = StateDir(tmp_path)
    path = state.identity_keys()
    before = KeyFile(path).keyring()
    old_header = sign(Identity(auth="token", user_id=1, username="ann"), before)
    result = invoke(None, "identity", "rotate-key", "--state-dir", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["rotated_to"] == data["active"] == "k2" and set(data["keys"]) == {"k1", "k2"}
    after = KeyFile(path).keyring()
    assert after.active == "k2" and verify(old_header, after).username == "ann"
    assert mode_of(path) == 0o600
    secret = json.loads(path.read_text())["keys"]["k2"]["secret"]
    shown = invoke(None, "identity", "keys", "--state-dir", str(tmp_path))
    assert shown.exit_code == 0 and "k2" in shown.stdout and secret not in shown.stdout + result.stdout


def test_rotate_key_without_a_key_file_says_where_it_looked(tmp_path: Path) -> None:
    result = invoke(None, "identity", "rotate-key", "--state-dir", str(tmp_path))
    assert result.exit_code == 1 and "identity-keys.json" in result.stderr and "strangler up" in result.stderr
