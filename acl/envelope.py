"""The Debezium change-event envelope, as Kafka Connect's JsonConverter writes
it with ``schemas.enable=false``::

    key   {"id": 42}
    value {"before": {...}|null, "after": {...}|null, "op": "c"|"u"|"d"|"r"|"t",
           "source": {"lsn": ..., "txId": ..., "ts_ms": ..., "table": ...,
                      "snapshot": "true"|"first"|"last"|"false"|..., ...},
           "ts_ms": ..., "transaction": null}

A tombstone (value ``null``) follows every delete; it carries no change.
Parsing is strict: anything else raises :class:`EnvelopeError`, which the
consumer turns into a dead letter.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

OPS = {"c": "create", "u": "update", "d": "delete", "r": "read", "t": "truncate", "m": "message"}


class EnvelopeError(ValueError):
    """The record is not a Debezium change envelope we understand."""


class SourcePosition(NamedTuple):
    """Where in the legacy database the change came from.

    This and :class:`Change` are NamedTuples rather than frozen dataclasses:
    just as immutable, but the consumer builds both for every record and a
    frozen dataclass sets each field through ``object.__setattr__`` (three
    times the cost of one tuple)."""

    table: str
    schema: str
    lsn: int | None
    tx_id: int | None
    commit_ts_ms: int
    snapshot: bool

    def token(self) -> str:
        """``lsn:txid``: identifies the source change across re-deliveries."""
        return f"{self.lsn}:{self.tx_id}"


class Change(NamedTuple):
    """One row change: ``before``/``after`` row images as plain dicts."""

    op: str
    key: dict[str, Any]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    source: SourcePosition
    ts_ms: int

    @property
    def row(self) -> dict[str, Any]:
        """The latest image: ``after``, or ``before`` for a delete."""
        image = self.after if self.after is not None else self.before
        if image is None:
            raise EnvelopeError(f"{self.op!r} change without a row image")
        return image


#: ``source.snapshot`` values of a streamed (not snapshot) change.
_NOT_SNAPSHOT = (None, False, "false")


def parse_change(key: bytes | str | None, value: bytes | str | None) -> Change | None:
    """Parse one Kafka record; ``None`` for a tombstone (nothing to translate)."""
    if value is None:
        return None
    try:
        body = orjson.loads(value)
        key_obj = orjson.loads(key) if key is not None else {}
    except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EnvelopeError(f"not JSON: {exc}") from exc
    if isinstance(body, dict) and "payload" in body and "schema" in body:
        body = body["payload"]  # converter with schemas.enable=true: same envelope, wrapped
    if isinstance(key_obj, dict) and "payload" in key_obj and "schema" in key_obj:
        key_obj = key_obj["payload"]
    if not isinstance(body, dict) or "op" not in body or not isinstance(body.get("source"), dict):
        raise EnvelopeError("missing op/source: not a Debezium change envelope")
    op = body["op"]
    if op not in OPS:
        raise EnvelopeError(f"unknown op {op!r}")
    src = body["source"]
    try:
        source = SourcePosition(
            str(src["table"]),
            str(src.get("schema") or "public"),
            src.get("lsn"),
            src.get("txId"),
            int(src["ts_ms"]),
            src.get("snapshot") not in _NOT_SNAPSHOT,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise EnvelopeError(f"bad source block: {exc!r}") from exc
    return Change(
        op,
        key_obj if isinstance(key_obj, dict) else {"key": key_obj},
        body.get("before"),
        body.get("after"),
        source,
        int(body.get("ts_ms") or source.commit_ts_ms),
    )
