"""The CDC pipeline's figures: per-table lag, DLQ size, consumer lag.

Each source is read on its own and may be missing (no relay status file in
the distributed deployment, no broker configured, a service down): a source
that fails becomes ``{"error": ...}`` in its section, never an exception
that empties the page. Everything here is blocking I/O with short timeouts;
the collector runs it in a worker thread.

- per-table lag: the relay's status file (``acl.relay_status``): how long
  after its commit the latest change of each table reached Kafka, and how old
  the relay's last report is (a relay that stopped reporting lags from then);
- the replication slot's retained WAL (legacy database), when configured;
- DLQ size: records in ``acl.dlq`` (end minus beginning offsets);
- consumer lag per group: the ACL's consumer group (committed offsets in
  Kafka), sync-back (its offsets table in the legacy database), and each new
  service (its own ``/readyz`` lag, since it keeps offsets with its rows).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from acl.relay_status import read_status
from acl.topics import DLQ_TOPIC

#: A relay report older than this is shown as stale (the relay writes one a second).
RELAY_STALE_S = 10.0
TopicOffsets = dict[tuple[str, int], int]


def table_lags(status: Mapping[str, Any] | None, now_ms: float) -> dict[str, Any]:
    """Per table: the delay of its latest change (commit -> relayed), the age
    of that change, the events relayed; plus the report's own age. Pure."""
    if status is None:
        return {"error": "no relay status (is the CDC relay running here?)", "tables": []}
    relay = status.get("relay") or {}
    age_s = max(0.0, (now_ms - float(relay.get("updated_at_ms") or 0)) / 1000)
    stale = age_s > RELAY_STALE_S
    tables = []
    for name, entry in sorted((status.get("tables") or {}).items()):
        source, relayed = entry.get("last_source_ts_ms"), entry.get("last_relayed_at_ms")
        delay = (
            max(0.0, (float(relayed) - float(source)) / 1000) if source is not None and relayed is not None else None
        )
        lag = None if delay is None else delay + (age_s if stale else 0.0)
        tables.append(
            {
                "table": name,
                "topic": entry.get("topic"),
                "snapshot": entry.get("snapshot"),
                "events": int(entry.get("events") or 0),
                "lag_s": None if lag is None else round(lag, 3),
                "last_change_age_s": None if source is None else round(max(0.0, (now_ms - float(source)) / 1000), 1),
            }
        )
    return {
        "relay_state": relay.get("state"),
        "events_relayed": int(relay.get("events_relayed") or 0),
        "report_age_s": round(age_s, 1),
        "stale": stale,
        "tables": tables,
    }


def group_lag(committed: Mapping[tuple[str, int], int], end: Mapping[tuple[str, int], int]) -> dict[str, Any]:
    """A group's lag per topic (sum over partitions) and in total. Pure. A
    partition with no committed offset lags by everything in it."""
    per_topic: dict[str, int] = {}
    for tp, last in end.items():
        per_topic[tp[0]] = per_topic.get(tp[0], 0) + max(0, last - committed.get(tp, 0))
    return {"lag": sum(per_topic.values()), "topics": dict(sorted(per_topic.items()))}


class KafkaProbe:
    """Offsets from the broker through kafka-python, with a bounded wait per
    call. Owned by one thread at a time (kafka-python clients are not
    thread-safe); reconnects after a failure."""

    def __init__(self, bootstrap: str, timeout_ms: int = 4000) -> None:
        self.bootstrap = bootstrap
        self.timeout_ms = timeout_ms
        self._consumer: Any = None
        self._admin: Any = None

    def _clients(self) -> tuple[Any, Any]:
        from kafka import KafkaAdminClient, KafkaConsumer

        if self._consumer is None:
            self._consumer = KafkaConsumer(
                bootstrap_servers=self.bootstrap,
                client_id="strangler-dashboard",
                group_id=None,
                enable_auto_commit=False,
                request_timeout_ms=self.timeout_ms + 1000,
                metadata_max_age_ms=5000,
            )
        if self._admin is None:
            self._admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                client_id="strangler-dashboard-admin",
                request_timeout_ms=self.timeout_ms + 1000,
            )
        return self._consumer, self._admin

    def close(self) -> None:
        for client in (self._consumer, self._admin):
            if client is not None:
                with contextlib.suppress(Exception):  # closing a broken client must not hide the first error
                    client.close()
        self._consumer = self._admin = None

    def end_offsets(self, topics: Iterable[str]) -> TopicOffsets:
        from kafka import TopicPartition

        consumer, _ = self._clients()
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not tps:
            return {}
        ends = consumer.end_offsets(tps)
        return {(tp.topic, tp.partition): int(n) for tp, n in ends.items()}

    def dlq_size(self) -> int:
        from kafka import TopicPartition

        consumer, _ = self._clients()
        tps = [TopicPartition(DLQ_TOPIC, p) for p in sorted(consumer.partitions_for_topic(DLQ_TOPIC) or ())]
        if not tps:
            return 0
        begin, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        return int(sum(max(0, end[tp] - begin[tp]) for tp in tps))

    def committed(self, group: str) -> TopicOffsets:
        _, admin = self._clients()
        offsets = admin.list_group_offsets(group).get(group, {})  # kafka-python 3.x
        return {(tp.topic, tp.partition): int(meta.offset) for tp, meta in offsets.items() if meta.offset >= 0}


def syncback_offsets(legacy_dsn: str) -> TopicOffsets:
    """Sync-back's next offsets, from its table in the legacy database."""
    import psycopg

    with psycopg.connect(legacy_dsn, connect_timeout=3) as conn:
        if conn.execute("SELECT to_regclass('strangler_syncback_offsets')").fetchone() == (None,):
            return {}
        rows = conn.execute("SELECT topic, partition, next_offset FROM strangler_syncback_offsets").fetchall()
    return {(str(t), int(p)): int(n) for t, p, n in rows}


def slot_wal(legacy_dsn: str) -> list[dict[str, Any]]:
    """Every logical replication slot and the WAL it retains (bytes)."""
    import psycopg

    with psycopg.connect(legacy_dsn, connect_timeout=3) as conn:
        rows = conn.execute(
            "SELECT slot_name, active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint"
            " FROM pg_replication_slots WHERE slot_type = 'logical' ORDER BY slot_name"
        ).fetchall()
    return [{"slot": r[0], "active": bool(r[1]), "retained_wal_bytes": int(r[2] or 0)} for r in rows]


def service_lag(name: str, url: str, timeout: float = 3.0) -> dict[str, Any]:
    """A new service's own view of its lag (``/readyz``; 503 still has a body)."""
    try:
        with httpx.Client(timeout=timeout) as client:
            body = client.get(f"{url.rstrip('/')}/readyz").json()
    except (httpx.HTTPError, ValueError) as exc:
        return {"name": name, "kind": "service", "error": str(exc) or type(exc).__name__}
    lag = (body.get("lag") or {}).get("events") if isinstance(body, dict) else None
    return {
        "name": name,
        "kind": "service",
        "lag": lag,
        "ready": bool(body.get("ready")) if isinstance(body, dict) else False,
        "events_applied": body.get("events_applied") if isinstance(body, dict) else None,
    }


def _guard(what: str, call: Any) -> Any:
    """``call()``, or ``{"error": ...}`` naming ``what``: one missing source
    must not hide the others."""
    try:
        return call()
    except Exception as exc:
        first = (str(exc).splitlines() or [""])[0]
        return {"error": f"{what}: {first or type(exc).__name__}"}


class PipelineReader:
    """Reads every configured source; ``read()`` is called from one worker
    thread at a time."""

    def __init__(
        self,
        *,
        cdc_state_dir: Path | None,
        kafka_bootstrap: str | None,
        acl_group: str,
        legacy_dsn: str | None,
        services: Mapping[str, str],
    ) -> None:
        self.cdc_state_dir = cdc_state_dir
        self.kafka = KafkaProbe(kafka_bootstrap) if kafka_bootstrap else None
        self.acl_group = acl_group
        self.legacy_dsn = legacy_dsn
        self.services = dict(services)

    def read(self) -> dict[str, Any]:
        now_ms = time.time() * 1000
        tables = (
            table_lags(read_status(self.cdc_state_dir), now_ms)
            if self.cdc_state_dir is not None
            else {"error": "not configured (STRANGLER_CDC_STATE_DIR)", "tables": []}
        )
        groups: list[dict[str, Any]] = [self._acl_group(), self._syncback()]
        groups += [service_lag(name, url) for name, url in sorted(self.services.items())]
        return {
            "at": now_ms / 1000,
            "tables": tables,
            "slots": _guard("replication slots", lambda: slot_wal(self.legacy_dsn)) if self.legacy_dsn else None,
            "dlq": self._dlq(),
            "groups": groups,
        }

    def _dlq(self) -> dict[str, Any]:
        if self.kafka is None:
            return {"error": "not configured (KAFKA_BOOTSTRAP_SERVERS)"}
        kafka = self.kafka
        result: dict[str, Any] = _guard("broker", lambda: {"size": kafka.dlq_size(), "topic": DLQ_TOPIC})
        if "error" in result:
            kafka.close()
        return result

    def _acl_group(self) -> dict[str, Any]:
        base = {"name": self.acl_group, "kind": "Kafka group"}
        if self.kafka is None:
            return {**base, "error": "not configured (KAFKA_BOOTSTRAP_SERVERS)"}
        kafka = self.kafka

        def lag() -> dict[str, Any]:
            committed = kafka.committed(self.acl_group)
            end = kafka.end_offsets(sorted({tp[0] for tp in committed}))
            return group_lag(committed, end)

        result: dict[str, Any] = _guard("broker", lag)
        if "error" in result:
            kafka.close()
        return {**base, **result}

    def _syncback(self) -> dict[str, Any]:
        base = {"name": "syncback", "kind": "legacy DB"}
        if self.kafka is None or not self.legacy_dsn:
            return {**base, "error": "not configured (KAFKA_BOOTSTRAP_SERVERS and STRANGLER_LEGACY_DATABASE_URL)"}
        kafka, dsn = self.kafka, self.legacy_dsn

        def lag() -> dict[str, Any]:
            committed = syncback_offsets(dsn)
            return group_lag(committed, kafka.end_offsets(sorted({tp[0] for tp in committed})))

        return {**base, **_guard("sync-back", lag)}

    def close(self) -> None:
        if self.kafka is not None:
            self.kafka.close()
