"""The signed identity header: what verifies, what is refused, and rotation."""

from __future__ import annotations

from pathlib import Path

import pytest

from new_services.platform.identity import (
    Identity,
    IdentityError,
    KeyFile,
    Keyring,
    ensure_key_file,
    rotate,
    sign,
    verify,
)

ALICE = Identity(auth="token", user_id=7, username="alice", player_id=3, player_status="A")
RING = Keyring(active="k1", keys={"k1": b"s" * 32})


def test_a_signed_header_verifies_to_the_same_identity() -> None:
    assert verify(sign(ALICE, RING, now=1000), RING, now=1010) == ALICE


def test_an_altered_claim_is_refused() -> None:
    version, kid, _body, mac = sign(ALICE, RING, now=1000).split(".")
    other = sign(Identity(auth="token", user_id=8, player_id=4), RING, now=1000).split(".")[2]
    with pytest.raises(IdentityError, match="signature"):
        verify(".".join([version, kid, other, mac]), RING, now=1000)


def test_a_header_signed_with_another_secret_is_refused() -> None:
    forged = sign(ALICE, Keyring(active="k1", keys={"k1": b"x" * 32}), now=1000)
    with pytest.raises(IdentityError, match="signature"):
        verify(forged, RING, now=1000)


def test_a_stale_header_is_refused() -> None:
    with pytest.raises(IdentityError, match="expired"):
        verify(sign(ALICE, RING, now=1000, lifetime_s=60), RING, now=1000 + 60 + 6)


@pytest.mark.parametrize("value", ["", "v1", "v2.k1.e30.AA", "v1.k1.!!!.AA", "v1.zz.e30.AA"])
def test_malformed_headers_are_refused(value: str) -> None:
    with pytest.raises(IdentityError):
        verify(value, RING, now=1000)


def test_rotation_keeps_old_headers_valid_and_signs_with_the_new_key(tmp_path: Path) -> None:
    path = tmp_path / "identity-keys.json"
    first = ensure_key_file(path, now=1000)
    old_header = sign(ALICE, first, now=1000)
    assert rotate(path, now=1010) == "k2"
    reader = KeyFile(path, check_every_s=0)
    assert reader.keyring().active == "k2"
    assert verify(old_header, reader.keyring(), now=1020) == ALICE
    assert path.stat().st_mode & 0o777 == 0o600


def test_keys_replaced_long_ago_are_retired(tmp_path: Path) -> None:
    path = tmp_path / "identity-keys.json"
    old_header = sign(ALICE, ensure_key_file(path, now=1000), now=1000)
    rotate(path, now=1010, retire_after_s=100)
    rotate(path, now=1200, retire_after_s=100)
    ring = KeyFile(path).keyring()
    assert sorted(ring.keys) == ["k2", "k3"]
    with pytest.raises(IdentityError, match="unknown key"):
        verify(old_header, ring, now=1200)
