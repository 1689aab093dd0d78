"""Domain event -> CloudEvents 1.0 JSON (structured mode) with a deterministic id.

The id is a UUIDv5 of (table, primary key, op, source LSN, transaction id,
event type): the same source change re-delivered (a relay restart replays
from the slot, a consumer re-reads after a crash) yields the same id, so
consumers dedupe on it. A *new* snapshot is a new observation of the rows and
gets new ids (its LSN differs); consumers treat snapshot-born creation events
as upserts.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from acl.envelope import Change
from new_services.contracts.events import DomainEvent, utc_iso
from acl.translators._common import commit_time

#: Fixed namespace for event ids; never change it (ids would all change).
EVENT_ID_NAMESPACE = uuid.UUID("6f1c1d2e-3b7a-5c1e-9a51-5e8d1b0c4a11")
SOURCE = "/strangler/acl/legacy-smp"


def event_id(change: Change, event: DomainEvent) -> str:
    key = json.dumps(change.key, sort_keys=True, separators=(",", ":"))
    name = "|".join(
        (change.source.table, key, change.op, str(change.source.lsn), str(change.source.tx_id), event.type_name())
    )
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, name))


def to_cloudevent(change: Change, event: DomainEvent) -> dict[str, Any]:
    """The CloudEvent; ``time`` is the legacy commit time (UTC, from the WAL)."""
    return {
        "specversion": "1.0",
        "id": event_id(change, event),
        "source": SOURCE,
        "type": event.cloudevent_type(),
        "subject": event.subject(),
        "time": utc_iso(commit_time(change.source.commit_ts_ms)),
        "datacontenttype": "application/json",
        "dataschema": f"urn:smp:contracts:{event.type_name()}",
        "sourceposition": change.source.token(),
        "data": event.to_data(),
    }


def encode(cloudevent: dict[str, Any]) -> bytes:
    return json.dumps(cloudevent, separators=(",", ":"), ensure_ascii=False).encode()
