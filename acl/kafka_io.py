"""kafka-python clients configured once for the whole ACL.

Group timeouts follow ARCHITECTURE.md (measured on Tansu: a fresh group
joins in ~3 s instead of ~23 s with these)."""

from __future__ import annotations

from typing import Any

GROUP_TIMEOUTS: dict[str, int] = {
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
    "max_poll_interval_ms": 10000,
}


def make_producer(bootstrap_servers: str, client_id: str) -> Any:
    """A producer tuned for low latency *and* batch throughput: linger 1 ms,
    big batches; callers ``flush()`` before committing anything upstream."""
    from kafka import KafkaProducer

    return KafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        linger_ms=1,
        batch_size=512 * 1024,
        max_request_size=8 * 1024 * 1024,
        retries=5,
        max_in_flight_requests_per_connection=1,
    )


def make_consumer(bootstrap_servers: str, *, group_id: str | None, client_id: str, max_poll_records: int = 2000) -> Any:
    """A manual-commit consumer (``enable_auto_commit=False``) reading from
    the earliest offset when the group has none."""
    from kafka import KafkaConsumer

    return KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_poll_records,
        fetch_max_wait_ms=20,
        fetch_min_bytes=1,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        metadata_max_age_ms=5000,
        **(GROUP_TIMEOUTS if group_id else {}),
    )
