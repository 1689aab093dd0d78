"""What the ACL adds to the contracts' codec: the envelope of a translated change.

The message itself is written by ``new_services.contracts.codec`` (the one
encoder); the ACL supplies the attributes only it knows:

- ``id``: a UUIDv5 of (table, primary key, op, source LSN, transaction id,
  event type). The same source change re-delivered (a relay restart replays
  from the slot, a consumer re-reads after a crash) yields the same id, so
  consumers dedupe on it. A *new* snapshot is a new observation of the rows
  and gets new ids (its LSN differs); consumers treat snapshot-born creation
  events as upserts.
- ``time``: the legacy commit time (UTC, from the WAL).
- ``sourceposition``: ``lsn:txid`` of the change, an extension attribute.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from datetime import datetime

import orjson

from acl.envelope import Change
from acl.translators._common import commit_time
from acl.wire_text import fast_json_default
from new_services.contracts.codec import CONTRACTS
from new_services.contracts.events import DomainEvent

__all__ = ["CODEC", "EVENT_ID_NAMESPACE", "SOURCE", "encode_event", "event_id"]

#: Fixed namespace for event ids; never change it (ids would all change).
EVENT_ID_NAMESPACE = uuid.UUID("6f1c1d2e-3b7a-5c1e-9a51-5e8d1b0c4a11")
SOURCE = "/strangler/acl/legacy-smp"
#: The contracts' codec, writing amounts and times with the ACL's faster
#: functions (same text, see :mod:`acl.wire_text`).
CODEC = CONTRACTS.with_json_default(fast_json_default)

_NAMESPACE_SHA1 = hashlib.sha1(EVENT_ID_NAMESPACE.bytes)  # only ever copied, never updated
#: hex digit -> the same digit with its top two bits set to 10 (the RFC 4122 variant)
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def event_id(change: Change, event: DomainEvent) -> str:
    """The deterministic id of ``event`` born from ``change``: exactly
    ``str(uuid.uuid5(EVENT_ID_NAMESPACE, name))`` (a unit test holds them
    together) at a fraction of its cost, as this runs once per event: the
    hash starts from a copy of a sha1 already fed the namespace, and the
    text is cut from the hex digest with the version and variant digits
    set, instead of going through a UUID object."""
    source = change.source
    key = orjson.dumps(change.key, option=orjson.OPT_SORT_KEYS).decode()
    name = f"{source.table}|{key}|{change.op}|{source.lsn}|{source.tx_id}|{event.type_name()}"
    sha1 = _NAMESPACE_SHA1.copy()
    sha1.update(name.encode())
    h = sha1.hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


@functools.lru_cache(maxsize=1024)
def _commit_moment(commit_ts_ms: int) -> datetime:
    """One datetime per commit: the rows of a transaction, and a whole
    snapshot chunk, share a commit timestamp, so its text is written once
    (:func:`acl.wire_text.utc_text`)."""
    return commit_time(commit_ts_ms)


def encode_event(change: Change, event: DomainEvent, subject: str | None = None) -> bytes:
    """The CloudEvent of ``event``, born from ``change``, as JSON bytes."""
    source = change.source
    return CODEC.encode(
        event,
        id=event_id(change, event),
        source=SOURCE,
        time=_commit_moment(source.commit_ts_ms),
        subject=subject,
        extensions={"sourceposition": source.token()},
    )
