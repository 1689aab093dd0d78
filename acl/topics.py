"""Topic names and how they are created.

Legacy topics are Debezium's ``<prefix>.<schema>.<table>``; domain topics
are one per bounded context with several partitions so consumer groups can
scale out (keys are aggregate ids, so per-aggregate order holds).
"""

from __future__ import annotations

import logging
import time

from acl.translators import CAPTURED_TABLES
from new_services.contracts.events import EVENT_TYPES

log = logging.getLogger(__name__)

TOPIC_PREFIX = "legacy"
HEARTBEAT_TOPIC = f"__debezium-heartbeat.{TOPIC_PREFIX}"
DLQ_TOPIC = "acl.dlq"
#: Written by the relay once it starts capturing: if it is missing while the
#: relay has offsets, the broker lost its (memory) storage -> re-snapshot.
RELAY_MARKER_TOPIC = "__strangler.cdc.marker"
DOMAIN_PARTITIONS = 6
LEGACY_PARTITIONS = 3


def legacy_topic(table: str, schema: str = "public") -> str:
    return f"{TOPIC_PREFIX}.{schema}.{table}"


LEGACY_TOPICS: tuple[str, ...] = tuple(legacy_topic(t) for t in CAPTURED_TABLES)
DOMAIN_TOPICS: tuple[str, ...] = tuple(sorted({cls.topic() for cls in EVENT_TYPES.values()}))


def existing_topics(bootstrap_servers: str) -> set[str]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="strangler-acl-admin")
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def ensure_topics(bootstrap_servers: str, wanted: dict[str, int], timeout: float = 15.0) -> None:
    """Create missing topics (name -> partitions); existing ones are left alone.

    Tolerates a concurrent creator (relay and consumer both call this)."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="strangler-acl-admin")
    try:
        deadline = time.monotonic() + timeout
        while True:
            missing = {n: p for n, p in wanted.items() if n not in set(admin.list_topics())}
            if not missing:
                return
            for name, partitions in missing.items():
                try:
                    admin.create_topics([NewTopic(name, partitions, 1)])
                    log.info("created topic %s (%d partitions)", name, partitions)
                except TopicAlreadyExistsError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"topics still missing after {timeout}s: {sorted(missing)}")
            time.sleep(0.05)
    finally:
        admin.close()
