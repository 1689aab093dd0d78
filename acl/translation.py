"""One consumed legacy record -> the messages to publish.

:func:`translate_record` is the pure part (a change -> its CloudEvents, on
the domain topic of each event, keyed by the event's aggregate);
:func:`process_record` turns any failure into a dead letter, so one bad
record never stops the stream.
"""

from __future__ import annotations

import logging

from acl.cloudevents import encode_event
from acl.dlq import dead_letter_for
from acl.envelope import parse_change
from acl.ports import Outbound, SourceRecord
from acl.topics import DLQ_TOPIC
from acl.translators import translate
from new_services.contracts.codec import KAFKA_HEADERS

log = logging.getLogger("acl.consumer")


def translate_record(key: bytes | None, value: bytes | None) -> list[Outbound]:
    """One legacy record -> one message per domain event (none for a
    tombstone). Raises on anything untranslatable."""
    change = parse_change(key, value)
    if change is None:
        return []
    outputs = []
    for event in translate(change):
        subject = event.subject()
        outputs.append(Outbound(event.topic(), subject.encode(), encode_event(change, event, subject), KAFKA_HEADERS))
    return outputs


def process_record(record: SourceRecord) -> list[Outbound]:
    """Like :func:`translate_record`, but a failure becomes a dead letter
    (keyed like the record, with the reason)."""
    try:
        return translate_record(record.key, record.value)
    except Exception as exc:
        log.warning("dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, exc)
        return [Outbound(DLQ_TOPIC, record.key or b"", dead_letter_for(record, exc).to_json())]
