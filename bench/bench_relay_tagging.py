"""Cost of sync-back tagging on the relay's hot path (micro-benchmark).

The relay's per-record loop (:meth:`acl.relay.KafkaRelayHandler.handleJsonBatch`)
now checks each record for sync-back's marker topic and a marked
transaction. This times the loop on Debezium-shaped records (a captured
``smp_sale`` insert, ~800 bytes of JSON) with a producer that does nothing,
so the loop's own cost is all that is measured:

- ``baseline``: the loop as it was before tagging (copied here);
- ``untagged``: today's loop, no sync-back transaction (every legacy write);
- ``tagged``: today's loop, every record inside a marked transaction.

Prints one JSON object (ns per record, best of several runs). Run:

    PYTHONPATH=. .venv/bin/python bench/bench_relay_tagging.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from acl.relay import KafkaRelayHandler
from acl.relay_status import RelayStatus
from acl.syncback.tagging import MESSAGE_TOPIC

CAPTURED = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "debezium" / "captured.json"
BATCH, ROUNDS, REPEATS = 2048, 3, 60


class Record:
    __slots__ = ("_k", "_t", "_v")

    def __init__(self, topic: str, key: str, value: str) -> None:
        self._t, self._k, self._v = topic, key, value

    def destination(self) -> str:
        return self._t

    def key(self) -> str:
        return self._k

    def value(self) -> str:
        return self._v


class NullProducer:
    def send(self, topic: str, key: Any = None, value: Any = None, headers: Any = ()) -> None:
        pass

    def flush(self, timeout: float = 30.0) -> None:
        pass


class BaselineHandler:
    """``KafkaRelayHandler.handleJsonBatch`` before sync-back tagging."""

    def __init__(self, producer: Any, status: RelayStatus) -> None:
        self._producer, self._status, self._flush_timeout = producer, status, 30.0

    def handleJsonBatch(self, records: Any) -> None:
        send = self._producer.send
        counts: dict[str, int] = {}
        newest: dict[str, str] = {}
        for record in records:
            topic = str(record.destination())
            key, value = record.key(), record.value()
            value_str = None if value is None else str(value)
            send(topic, None if key is None else str(key).encode(), None if value_str is None else value_str.encode())
            counts[topic] = counts.get(topic, 0) + 1
            if value_str is not None:
                newest[topic] = value_str
        self._producer.flush(self._flush_timeout)
        for topic, count in counts.items():
            self._status.record(topic, count, newest.get(topic))


def records(tx_id: int) -> list[Record]:
    sample = json.loads(CAPTURED.read_text())["sale_insert"][0]
    body = json.loads(sample["value"])
    body["source"]["txId"] = tx_id
    value = json.dumps(body, separators=(",", ":"))
    return [Record(sample["topic"], sample["key"], value) for _ in range(BATCH)]


def marker(tx_id: int) -> Record:
    value = {"op": "m", "source": {"txId": tx_id, "lsn": 1}, "message": {"prefix": "strangler.syncback", "content": ""}}
    return Record(MESSAGE_TOPIC, '{"prefix":"strangler.syncback"}', json.dumps(value, separators=(",", ":")))


def one_sample(handler: Any, batch: list[Record], before: Record | None) -> float:
    start = time.perf_counter_ns()
    for _ in range(ROUNDS):
        if before is not None:
            handler.handleJsonBatch([before])
        handler.handleJsonBatch(batch)
    return (time.perf_counter_ns() - start) / (ROUNDS * len(batch))


def interleaved(cases: dict[str, tuple[Any, list[Record], Record | None]]) -> dict[str, float]:
    """Best of ``REPEATS`` short samples per case, the cases taking turns, so
    a busy neighbour on the shared cores weighs on all of them alike."""
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(REPEATS):
        for name, (handler, batch, before) in cases.items():
            best[name] = min(best[name], one_sample(handler, batch, before))
    return best


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        status = RelayStatus(Path(tmp), "slot", {"smp_sale": "legacy.public.smp_sale"})
        plain = records(1000)
        results = interleaved(
            {
                "baseline": (BaselineHandler(NullProducer(), status), plain, None),
                "untagged": (KafkaRelayHandler(NullProducer(), status), plain, None),
                "tagged": (KafkaRelayHandler(NullProducer(), status), records(2000), marker(2000)),
            }
        )
    out = {k: round(v, 1) for k, v in results.items()}
    out["untagged_overhead_ns"] = round(results["untagged"] - results["baseline"], 1)
    out["untagged_overhead_pct"] = round(100 * (results["untagged"] / results["baseline"] - 1), 2)
    out["tagged_overhead_ns"] = round(results["tagged"] - results["baseline"], 1)
    out["unit"] = f"ns per record, loop only (no broker), best of {REPEATS} samples of {ROUNDS} batches of {BATCH}"
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
