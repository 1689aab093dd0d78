"""Keeping the relay's Debezium offsets whole across a crash.

Why: Kafka's ``FileOffsetBackingStore`` (connect-runtime 4.3, the store the
embedded engine uses) rewrites ``offsets.dat`` in place on every flush:
truncate, then write. Its loader takes a file torn by a crash inside that
window (``EOFException``) for "no offsets at all", so Debezium starts over
with a snapshot and every existing row comes back as a snapshot read with a
new event id. A SIGKILL in CI landed in that window once.

What: about once a second the relay copies each whole version of the file to
``offsets.dat.whole`` (atomic rename), and before the engine starts it puts
that copy back if the file is torn. The copy is at most a couple of flushes
old: Debezium replays those changes from the slot with their own LSNs, so
the ACL gives them the same event ids, and PostgreSQL skips what the slot had
already confirmed.

"Whole" is decided by parsing the file as the Java serialization of a
``HashMap<byte[], byte[]>`` (all the store ever writes) and requiring the
bytes to end exactly where the map does: no prefix of a whole file passes.
"""

from __future__ import annotations

import enum
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger("acl.relay")

_MAGIC = b"\xac\xed\x00\x05"  # java.io.ObjectStreamConstants STREAM_MAGIC + STREAM_VERSION
TC_NULL, TC_REFERENCE, TC_CLASSDESC, TC_OBJECT = 0x70, 0x71, 0x72, 0x73
TC_ARRAY, TC_BLOCKDATA, TC_ENDBLOCKDATA = 0x75, 0x77, 0x78
_BASE_HANDLE = 0x7E0000
_T = TypeVar("_T")
_PRIMITIVE_SIZES = {"B": 1, "C": 2, "D": 8, "F": 4, "I": 4, "J": 8, "S": 2, "Z": 1}


class TornOffsets(ValueError):
    """The bytes are not one whole serialized offsets map."""


@dataclass
class _ClassDesc:
    name: str
    field_codes: list[str] = field(default_factory=list)


class _Stream:
    """A cursor over the bytes that raises :class:`TornOffsets` instead of
    reading past the end, and keeps Java's back-reference handle table."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0
        self.handles: list[object] = []

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise TornOffsets(f"the file ends at byte {len(self.data)}, inside an item of {n} bytes at {self.pos}")
        chunk, self.pos = self.data[self.pos : end], end
        return chunk

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def text(self) -> str:
        return self.take(self.uint(2)).decode("utf-8", errors="replace")

    def expect(self, tag: int, what: str) -> None:
        at = self.pos
        if (found := self.uint(1)) != tag:
            raise TornOffsets(f"expected {what} at byte {at}, found 0x{found:02x}")

    def assign(self, obj: object) -> int:
        self.handles.append(obj)
        return len(self.handles) - 1

    def referenced(self, kind: type[_T]) -> _T:
        """The earlier item a back-reference names, which must be a ``kind``."""
        index = self.uint(4) - _BASE_HANDLE
        item = self.handles[index] if 0 <= index < len(self.handles) else None
        if not isinstance(item, kind):
            raise TornOffsets(f"back-reference to handle {index} is not a {kind.__name__}")
        return item


def _class_desc(s: _Stream) -> _ClassDesc | None:
    tag = s.uint(1)
    if tag == TC_NULL:
        return None
    if tag == TC_REFERENCE:
        return s.referenced(_ClassDesc)
    if tag != TC_CLASSDESC:
        raise TornOffsets(f"expected a class description, found 0x{tag:02x}")
    desc = _ClassDesc(s.text())
    s.assign(desc)  # Java assigns the handle before the description's body
    s.take(9)  # serialVersionUID, flags
    for _ in range(s.uint(2)):
        code = chr(s.uint(1))
        s.text()
        if code not in _PRIMITIVE_SIZES:
            raise TornOffsets(f"{desc.name} has an object field: not an offsets file")
        desc.field_codes.append(code)
    s.expect(TC_ENDBLOCKDATA, "the end of the class annotations")
    if _class_desc(s) is not None:
        raise TornOffsets(f"{desc.name} has a serializable superclass: not an offsets file")
    return desc


def _byte_array(s: _Stream) -> bytes | None:
    tag = s.uint(1)
    if tag == TC_NULL:
        return None
    if tag == TC_REFERENCE:
        return s.referenced(bytes)
    if tag != TC_ARRAY:
        raise TornOffsets(f"expected a byte[], found 0x{tag:02x}")
    desc = _class_desc(s)
    if desc is None or desc.name != "[B":
        raise TornOffsets("an array that is not a byte[]")
    handle = s.assign(b"")
    value = s.take(s.uint(4))
    s.handles[handle] = value
    return value


def read_offsets(data: bytes) -> dict[bytes | None, bytes | None]:
    """The offsets map in ``data``; raises :class:`TornOffsets` unless
    ``data`` is exactly one whole serialized ``HashMap<byte[], byte[]>``."""
    s = _Stream(data)
    if s.take(len(_MAGIC)) != _MAGIC:
        raise TornOffsets("not a Java serialization stream")
    s.expect(TC_OBJECT, "the map object")
    desc = _class_desc(s)
    if desc is None or desc.name != "java.util.HashMap":
        raise TornOffsets("the stream does not hold a java.util.HashMap")
    s.assign(None)  # the map object itself
    s.take(sum(_PRIMITIVE_SIZES[code] for code in desc.field_codes))  # loadFactor, threshold
    s.expect(TC_BLOCKDATA, "the map's capacity and size")
    if s.uint(1) != 8:
        raise TornOffsets("unexpected block length before the map's entries")
    s.take(4)  # capacity
    size = s.uint(4)
    entries = {}
    for _ in range(size):
        key = _byte_array(s)
        entries[key] = _byte_array(s)
    s.expect(TC_ENDBLOCKDATA, "the end of the map")
    if s.pos != len(data):
        raise TornOffsets(f"{len(data) - s.pos} bytes after the end of the map")
    return entries


def is_whole(data: bytes) -> bool:
    try:
        read_offsets(data)
    except TornOffsets:
        return False
    return True


class Restore(enum.Enum):
    """What :meth:`OffsetsKeeper.restore_if_torn` found."""

    NOTHING_STORED = "no offsets yet"
    WHOLE = "offsets whole"
    RESTORED = "torn offsets restored from the whole copy"
    TORN_WITHOUT_COPY = "offsets torn and no whole copy: Debezium takes a new snapshot"


class OffsetsKeeper:
    """Keeps a whole copy of Debezium's offsets file and puts it back when a
    crash tore the file (see the module docstring)."""

    def __init__(self, offsets: Path) -> None:
        self.offsets = offsets
        self.copy = offsets.with_name(offsets.name + ".whole")

    def keep(self) -> bool:
        """Copy the offsets file if it is whole and differs from the copy (the
        relay's status ticker calls this). A version read mid-write is
        skipped and the next call tries again."""
        try:
            data = self.offsets.read_bytes()
        except FileNotFoundError:
            return False
        if not is_whole(data) or (self.copy.exists() and self.copy.read_bytes() == data):
            return False
        _write_atomically(self.copy, data)
        return True

    def restore_if_torn(self) -> Restore:
        """Before the engine starts: put the whole copy back over a torn file."""
        if not self.offsets.exists():
            return Restore.NOTHING_STORED
        try:
            read_offsets(self.offsets.read_bytes())
            return Restore.WHOLE
        except TornOffsets as torn:
            reason = str(torn)
        if not (self.copy.exists() and is_whole(copy := self.copy.read_bytes())):
            log.warning(
                "offsets file %s is torn (%s) and there is no whole copy: Debezium will take a new snapshot",
                self.offsets,
                reason,
            )
            return Restore.TORN_WITHOUT_COPY
        _write_atomically(self.offsets, copy)
        log.warning(
            "offsets file %s was torn by a crash mid-write (%s); restored the whole copy: the last"
            " changes are replayed with their own ids",
            self.offsets,
            reason,
        )
        return Restore.RESTORED

    def exists(self) -> bool:
        return self.offsets.exists()

    def forget(self) -> None:
        """Drop the offsets and the copy (a fresh snapshot follows)."""
        self.offsets.unlink(missing_ok=True)
        self.copy.unlink(missing_ok=True)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


class OffsetTable:
    """The table Debezium's JDBC offset store keeps the relay's position in
    (see :func:`acl.debezium_config.offset_store_properties`), read and
    cleared with plain SQL: rows of ``offset_key`` (the source partition,
    JSON text) and ``offset_val`` (the position: LSNs, JSON text)."""

    def __init__(self, database_url: str, table: str) -> None:
        self.database_url, self.table = database_url, table

    def read(self) -> dict[str, Any]:
        """``{source partition: position}``; empty if nothing was stored yet
        (no table: Debezium creates it when it starts)."""
        import psycopg
        from psycopg import sql

        query = sql.SQL("SELECT offset_key, offset_val FROM {} ORDER BY record_insert_ts, record_insert_seq")
        try:
            with psycopg.connect(self.database_url, autocommit=True) as conn:
                rows = conn.execute(query.format(sql.Identifier(self.table))).fetchall()
        except psycopg.errors.UndefinedTable:
            return {}
        return {key: None if value is None else json.loads(value) for key, value in rows}

    def exists(self) -> bool:
        return bool(self.read())

    def forget(self) -> None:
        """Drop the stored position (a fresh snapshot follows)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(self.table)))
