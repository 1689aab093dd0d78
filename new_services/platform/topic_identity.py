"""Is the topic my stored offsets point into still the topic they were read
from? The check every consumer needs that keeps its Kafka offsets outside
Kafka (the services' projectors, sync-back).

Why: the embedded broker (Tansu, memory storage) forgets every topic when it
restarts; the relay re-snapshots and the topics come back under the same
names. A consumer that seeks to its stored offset in the *new* topic skips
its head (the re-snapshot) without any error, and "stored offset > end
offset" does not catch it once the new topic is longer than the old one.

Decision: **Kafka topic ids** (KIP-516), not a fingerprint of each
partition's first record. Measured: Tansu hands out a fresh UUID (v7) each
time it creates a topic, and kafka-python 3.x reads it from every metadata
response (v10+), which its consumer refreshes every ``metadata_max_age_ms``
and after any connection error anyway. So the check costs no request and
no fetch, works for an empty topic (a fingerprint needs a first record), and
real Kafka (2.8+) behaves the same. A broker that sends no ids (older
Kafka) falls back to the weaker "stored offset beyond the end" check.

The id is stored with the offsets, adopted only when the consumer (re)syncs
(before it fetches anything), and replaced only together with a reset of
the topic's offsets followed by a seek (which drops what the client had
buffered). So a stored id is never newer than the records read under it: a
record from the new topic read under the old id is caught by the next
check, and the replay from the start re-applies it (consumers are
idempotent).

This module is the pure decision; the adapters feed it and act on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: (topic, partition)
Position = tuple[str, int]

#: What some brokers send for "no id" (all zero UUID).
NO_TOPIC_ID = "00000000-0000-0000-0000-000000000000"


def known_id(raw: object) -> str | None:
    """A topic id as text, or None for missing and all-zero ids."""
    if raw is None:
        return None
    text = str(raw)
    return None if text in ("", NO_TOPIC_ID, "AAAAAAAAAAAAAAAAAAAAAA") else text


@dataclass(frozen=True)
class TopicCheck:
    """What to do about the stored offsets of each topic."""

    #: topic -> why its offsets no longer mean anything (they go back to the start)
    lost: dict[str, str] = field(default_factory=dict)
    #: topic -> id to store (first sight, or the new id of a lost topic); a
    #: lost topic whose new id is unknown is absent (its stored id is dropped)
    store: dict[str, str] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.lost and not self.store


def check_topics(
    stored_ids: Mapping[str, str],
    current_ids: Mapping[str, str | None],
    *,
    stored_offsets: Mapping[Position, int] | None = None,
    ends: Mapping[Position, int | None] | None = None,
    adopt: bool = False,
) -> TopicCheck:
    """Compare what the consumer stored with what the broker says now.

    - a known current id that differs from the stored one: lost;
    - a stored next offset beyond the partition's end offset: lost;
    - no stored id and a known current id: stored only when ``adopt`` (the
      consumer is about to seek, nothing fetched is in hand);
    - an unknown current id (topic missing right now, or a broker without
      ids) decides nothing.
    """
    lost: dict[str, str] = {}
    store: dict[str, str] = {}
    for topic, current in current_ids.items():
        stored = stored_ids.get(topic)
        if current is not None and stored is not None and current != stored:
            lost[topic] = f"topic id changed from {stored} to {current}"
    for (topic, partition), offset in (stored_offsets or {}).items():
        end = (ends or {}).get((topic, partition))
        if topic not in lost and end is not None and offset > end:
            lost[topic] = f"stored offset {offset} of partition {partition} is beyond its end {end}"
    for topic, current in current_ids.items():
        if current is not None and (topic in lost or (adopt and topic not in stored_ids)):
            store[topic] = current
    return TopicCheck(lost, store)


def cluster_topic_ids(consumer: Any, topics: Sequence[str]) -> dict[str, str | None]:
    """The topic ids a kafka-python consumer last read from the broker's
    metadata. kafka-python has no public accessor for them: this reads its
    cluster metadata (``consumer._client.cluster.topic_id``, present in 3.x;
    pinned in requirements.lock) and reports every id unknown if that is
    missing, which leaves only the offset-beyond-end check."""
    cluster = getattr(getattr(consumer, "_client", None), "cluster", None)
    lookup = getattr(cluster, "topic_id", None)
    if lookup is None:
        return dict.fromkeys(topics)
    return {topic: known_id(lookup(topic)) for topic in topics}
