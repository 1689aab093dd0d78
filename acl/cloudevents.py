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

import hashlib
import uuid

import orjson

from acl.envelope import Change
from acl.translators._common import commit_time
from new_services.contracts.codec import encode
from new_services.contracts.events import DomainEvent

__all__ = ["EVENT_ID_NAMESPACE", "SOURCE", "encode_event", "event_id"]

#: Fixed namespace for event ids; never change it (ids would all change).
EVENT_ID_NAMESPACE = uuid.UUID("6f1c1d2e-3b7a-5c1e-9a51-5e8d1b0c4a11")
SOURCE = "/strangler/acl/legacy-smp"

_NAMESPACE_SHA1 = hashlib.sha1(EVENT_ID_NAMESPACE.bytes)  # only ever copied, never updated


def event_id(change: Change, event: DomainEvent) -> str:
    """The deterministic id of ``event`` born from ``change``: exactly
    ``uuid.uuid5(EVENT_ID_NAMESPACE, name)``. The hash starts from a copy of
    a sha1 already fed the namespace (this runs once per event)."""
    source = change.source
    key = orjson.dumps(change.key, option=orjson.OPT_SORT_KEYS).decode()
    name = f"{source.table}|{key}|{change.op}|{source.lsn}|{source.tx_id}|{event.type_name()}"
    sha1 = _NAMESPACE_SHA1.copy()
    sha1.update(name.encode())
    return str(uuid.UUID(bytes=sha1.digest()[:16], version=5))


def encode_event(change: Change, event: DomainEvent, subject: str | None = None) -> bytes:
    """The CloudEvent of ``event``, born from ``change``, as JSON bytes."""
    source = change.source
    return encode(event, id=event_id(change, event), source=SOURCE, time=commit_time(source.commit_ts_ms),
                  subject=subject, extensions={"sourceposition": source.token()})
