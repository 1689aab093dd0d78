"""The relay's guard against an offsets file torn by a crash: whole files
parse, every prefix of one is torn, and the keeper restores its copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acl.relay_offsets import OffsetsKeeper, Restore, TornOffsets, is_whole, read_offsets

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "offsets"
RELAY = (FIXTURES / "relay-offsets.dat").read_bytes()
THREE = (FIXTURES / "three-entries-with-nulls.dat").read_bytes()


def test_reads_the_file_the_real_engine_wrote():
    offsets = read_offsets(RELAY)
    assert list(offsets) == [b'["strangler-legacy-relay",{"server":"legacy"}]']
    position = json.loads(next(iter(offsets.values())))  # type: ignore[arg-type]
    assert position["lsn"] > 0 and position["lsn_commit"] > 0


def test_reads_several_entries_null_keys_and_values():
    assert read_offsets(THREE) == {
        b'["relay",{"server":"legacy"}]': b'{"lsn":1}',
        b'["other",{"server":"x"}]': None,
        None: b'{"lsn":2}',
    }


@pytest.mark.parametrize("whole", [RELAY, THREE], ids=["relay", "three"])
def test_every_prefix_of_a_whole_file_is_torn(whole):
    torn = [n for n in range(len(whole)) if not is_whole(whole[:n])]
    assert torn == list(range(len(whole)))


def test_bytes_after_the_map_are_refused():
    with pytest.raises(TornOffsets, match="after the end"):
        read_offsets(RELAY + b"\x00")


def test_other_serialized_objects_are_refused():
    with pytest.raises(TornOffsets):
        read_offsets(RELAY.replace(b"java.util.HashMap", b"java.util.HashSet"))


def keeper(tmp_path: Path) -> OffsetsKeeper:
    return OffsetsKeeper(tmp_path / "offsets.dat")


def test_keep_copies_whole_versions_only(tmp_path):
    k = keeper(tmp_path)
    assert not k.keep() and not k.copy.exists()  # nothing stored yet
    k.offsets.write_bytes(RELAY)
    assert k.keep() and k.copy.read_bytes() == RELAY
    assert not k.keep()  # unchanged
    k.offsets.write_bytes(THREE[:40])  # read mid-write
    assert not k.keep() and k.copy.read_bytes() == RELAY


def test_restore_puts_the_whole_copy_back_over_a_torn_file(tmp_path):
    k = keeper(tmp_path)
    assert k.restore_if_torn() is Restore.NOTHING_STORED
    k.offsets.write_bytes(RELAY)
    k.keep()
    assert k.restore_if_torn() is Restore.WHOLE
    k.offsets.write_bytes(b"")  # truncated, nothing written yet
    assert k.restore_if_torn() is Restore.RESTORED
    assert k.offsets.read_bytes() == RELAY


def test_a_torn_file_without_a_copy_is_reported(tmp_path):
    k = keeper(tmp_path)
    k.offsets.write_bytes(RELAY[:100])
    assert k.restore_if_torn() is Restore.TORN_WITHOUT_COPY
    assert k.offsets.read_bytes() == RELAY[:100]  # left for Debezium, which re-snapshots


def test_forget_drops_the_offsets_and_the_copy(tmp_path):
    k = keeper(tmp_path)
    k.offsets.write_bytes(RELAY)
    k.keep()
    k.forget()
    assert not k.offsets.exists() and not k.copy.exists()
    k.offsets.write_bytes(RELAY)
    assert k.keep(), "a new file after forget() is copied again"


def test_a_back_reference_to_the_wrong_kind_of_item_is_refused():
    # the second byte[]'s class reference (handle 2, the [B description) made to name the map object
    bad = RELAY.replace(b"uq\x00~\x00\x02", b"uq\x00~\x00\x01")
    assert bad != RELAY
    with pytest.raises(TornOffsets, match="back-reference to handle 1"):
        read_offsets(bad)
