"""No loops: the change records of a sync-back transaction carry the Kafka
header ``strangler-origin: syncback`` and the ACL skips them.

How the relay knows: sync-back starts each transaction with
``pg_logical_emit_message(true, 'strangler.syncback', <event ids>)``. A
transactional message is decoded in its place in the transaction, so
pgoutput hands Debezium the marker before the transaction's row changes,
and Debezium emits it as an ``op: m`` record on ``<prefix>.message``
carrying the transaction's ``source.txId``. Transactions are decoded whole
and one after the other (no streaming of in-progress transactions), so the
records that follow the marker with the same ``txId`` are the
transaction's changes; the first data record with another ``txId`` ends it.

Cost: :class:`SyncbackTagger` does nothing for a record unless the record
is on the message topic or a marked transaction is current, and the relay's
hot loop checks exactly those two things (a string comparison and an
attribute read). While a transaction is marked, a record is matched by a
substring search for ``"txId":<n>,`` in its JSON text: JsonConverter
escapes every quote inside string values, so that text can only be the
``source`` block's own field.

A relay crash after the marker's batch was processed but before the rest of
the transaction was (Debezium resumes mid-transaction and does not repeat
the marker) is covered by :class:`MarkerMemory`: the marked ``txId`` is
written to the relay's state dir before the batch that carried it is
acknowledged, and read back at start.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from acl.syncback import ORIGIN_HEADER, ORIGIN_SYNCBACK, SYNCBACK_HEADERS, SYNCBACK_MESSAGE_PREFIX
from acl.topics import HEARTBEAT_TOPIC, TOPIC_PREFIX

log = logging.getLogger("acl.relay")

#: Where Debezium sends logical decoding messages.
MESSAGE_TOPIC = f"{TOPIC_PREFIX}.message"


class MarkerMemory:
    """The last marked ``txId``, kept in a small file of the relay's state dir."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> int | None:
        if self.path is None:
            return None
        try:
            tx_id = json.loads(self.path.read_text()).get("tx_id")
        except (OSError, ValueError, AttributeError):
            return None
        return tx_id if isinstance(tx_id, int) else None

    def save(self, tx_id: int) -> None:
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"tx_id": tx_id}))
        os.replace(tmp, self.path)


class SyncbackTagger:
    """Decides, record by record, which headers a relayed change gets.

    Use: for each record, if ``topic == MESSAGE_TOPIC or tagger.marked is
    not None``, call :meth:`inspect`; otherwise send the record untagged.
    """

    #: :meth:`inspect`'s answer for the marker itself: do not publish it.
    CONSUMED: tuple[tuple[str, bytes], ...] = (("strangler-marker", b""),)

    def __init__(self, memory: MarkerMemory | None = None) -> None:
        self._memory = memory or MarkerMemory(None)
        self.marked: int | None = None
        self._needle = ""
        self.transactions = 0
        self.tagged = 0
        remembered = self._memory.load()
        if remembered is not None:
            self._mark(remembered)

    def _mark(self, tx_id: int) -> None:
        self.marked = tx_id
        self._needle = f'"txId":{tx_id},'

    def inspect(self, topic: str, value: str | None) -> tuple[tuple[str, bytes], ...]:
        """The headers of this record: :data:`SYNCBACK_HEADERS` for a change
        of the marked transaction, ``()`` for any other, :attr:`CONSUMED` for
        a sync-back marker (the relay drops it)."""
        if topic == MESSAGE_TOPIC:
            return self._on_message(value)
        if self.marked is None:
            return ()
        if value is None:  # the tombstone after a delete: same transaction as the delete before it
            self.tagged += 1
            return SYNCBACK_HEADERS
        if self._needle in value:
            self.tagged += 1
            return SYNCBACK_HEADERS
        if topic != HEARTBEAT_TOPIC:  # heartbeats may come between a transaction's records
            self.marked = None  # another transaction: the marked one is over
        return ()

    def _on_message(self, value: str | None) -> tuple[tuple[str, bytes], ...]:
        try:
            body: Any = orjson.loads(value) if value is not None else None
            prefix = body["message"]["prefix"]
            tx_id = body["source"]["txId"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            log.warning("logical decoding message not understood (%r): relayed as is", exc)
            return ()
        if prefix != SYNCBACK_MESSAGE_PREFIX:
            return ()
        if not isinstance(tx_id, int):
            log.warning("sync-back marker without a transaction id (non-transactional message?): ignored")
            return self.CONSUMED
        self._mark(tx_id)
        self.transactions += 1
        self._memory.save(tx_id)
        return self.CONSUMED


def is_syncback(headers: Sequence[tuple[str, bytes | None]] | None) -> bool:
    """Whether a consumed record was written by sync-back (the ACL skips it)."""
    if not headers:
        return False
    return any(name == ORIGIN_HEADER and value == ORIGIN_SYNCBACK for name, value in headers)
