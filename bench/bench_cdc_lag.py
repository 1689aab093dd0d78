"""CDC lag: commit in the legacy PostgreSQL -> SaleRecorded readable on
smp.market.v1, at a sustained write rate (default 500 writes/s for 60 s).

Each write is one INSERT into ``smp_sale`` in its own transaction (plain SQL,
like the monolith's ORM would do); its commit time is taken when COMMIT
returns. A reader (librdkafka, tailing every partition) notes when the event
keyed ``sales/<id>`` arrives. Targets: p50 <= 100 ms, p99 <= 300 ms. Prints
one JSON object on stdout; progress on stderr.

    .venv/bin/python bench/bench_cdc_lag.py [--rate 500] [--seconds 60]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import threading
import time
from typing import Any

import psycopg
from _cdc_bench_stack import (
    SEED_MARKET,
    CpuMeter,
    LoadSampler,
    TopicCounter,
    cdc_stack,
    cpu_seconds,
    say,
)

from local_stack.processes import NotReady, wait_until

DOMAIN_TOPIC = "smp.market.v1"
LEGACY_TOPIC = "legacy.public.smp_sale"


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def windows(committed: dict[int, float], arrived: dict[int, float], rate: int) -> list[float]:
    """p99 lag per 10 s of writing: shows whether slow events cluster (GC,
    checkpoint, a neighbour's burst) or spread evenly."""
    out = []
    size = rate * 10
    for first in range(1, len(committed) + 1, size):
        lags = sorted(
            (arrived[n] - committed[n]) * 1000
            for n in range(first, min(first + size, len(committed) + 1))
            if n in arrived
        )
        out.append(round(percentile(lags, 99), 1))
    return out


class Reader(threading.Thread):
    """Tails smp.market.v1 and legacy.public.smp_sale; records when each sale
    arrives on each, and the record's CreateTime (stamped by the producer
    that wrote it: the relay, then the ACL), so the lag splits into stages."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(daemon=True)
        from confluent_kafka import OFFSET_END, Consumer, TopicPartition

        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "bench-lag-reader",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 5,
                "fetch.min.bytes": 1,
            }
        )
        partitions = []
        for topic in (DOMAIN_TOPIC, LEGACY_TOPIC):
            meta = self.consumer.list_topics(topic, timeout=10).topics[topic]
            partitions += [TopicPartition(topic, p, OFFSET_END) for p in meta.partitions]
        self.consumer.assign(partitions)
        self.arrived: dict[int, float] = {}
        self.domain_created: dict[int, float] = {}
        self.legacy_created: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            # poll() returns as soon as one message is there; consume(n, t)
            # would hold early arrivals until n or t (added ~5 ms to each lag).
            message = self.consumer.poll(0.05)
            if message is not None and message.error() is None:
                self._note(message)
        self.consumer.close()

    def _note(self, message: Any) -> None:
        key = message.key() or b""
        created = message.timestamp()[1] / 1000
        if message.topic() == DOMAIN_TOPIC:
            if key.startswith(b"sales/"):
                n = int(key[6:])
                self.arrived.setdefault(n, time.time())
                self.domain_created.setdefault(n, created)
        elif message.value() is not None:
            self.legacy_created.setdefault(json.loads(key)["id"], created)


def stages(committed: dict[int, float], reader: Reader) -> dict[str, dict[str, float]]:
    """p50/p99 of each hop, from producer CreateTimes (ms resolution):
    capture = commit -> relay hands the change to its producer (PostgreSQL
    WAL + Debezium); translate = relay's produce -> ACL's produce (relay
    flush, broker, ACL fetch, translation); deliver = ACL's produce -> a
    reader has it (ACL flush, broker, reader fetch)."""
    hops: dict[str, list[float]] = {"capture": [], "translate": [], "deliver": []}
    for n, t in committed.items():
        if n in reader.arrived and n in reader.legacy_created:
            legacy, domain = reader.legacy_created[n], reader.domain_created[n]
            hops["capture"].append((legacy - t) * 1000)
            hops["translate"].append((domain - legacy) * 1000)
            hops["deliver"].append((reader.arrived[n] - domain) * 1000)
    return {
        name: {"p50": round(percentile(sorted(v), 50), 1), "p99": round(percentile(sorted(v), 99), 1)}
        for name, v in hops.items()
    }


class CpuWindows:
    """A process's CPU share (1.0 = one full core) per ``window`` seconds of
    writing: shows whether a part's cost stays flat or grows as the run goes
    on (the embedded broker's does: its fetches list every batch stored so
    far). Call ``tick()`` as often as you like; it keeps one reading a window."""

    def __init__(self, pid: int | None, window: float = 10.0) -> None:
        self.pid, self.window = pid, window
        self.readings: list[tuple[float, float]] = []
        self.tick()

    def tick(self) -> None:
        now, used = time.monotonic(), cpu_seconds(self.pid)
        if used is not None and (not self.readings or now - self.readings[-1][0] >= self.window - 0.5):
            self.readings.append((now, used))

    def shares(self) -> list[float]:
        return [round((c1 - c0) / (t1 - t0), 2) for (t0, c0), (t1, c1) in itertools.pairwise(self.readings)]


def write_sales(
    dsn: str, rate: int, seconds: float, committed: dict[int, float], load: LoadSampler, broker_cpu: CpuWindows
) -> float:
    """Paced single-row transactions; returns the achieved writes/s."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'Europe/Paris'")
        insert = (
            "INSERT INTO smp_sale (id, lst_id, byr_id, sllr_id, itm_id, qty, prc_cp, tot_cp, fee_cp, sld_at)"
            " VALUES (%s, 1, 2, 2, 2, 1, 101, 101, 5, localtimestamp)"
        )
        total = int(rate * seconds)
        start = time.monotonic()
        next_report = start + 5
        for n in range(1, total + 1):
            conn.execute(insert, (n,), prepare=True)
            committed[n] = time.time()
            now = time.monotonic()
            if now >= next_report:
                load.sample()
                broker_cpu.tick()
                say(f"{n}/{total} writes, load {load.samples[-1]:.2f}")
                next_report += 5
            pause = start + n / rate - now
            if pause > 0:
                time.sleep(pause)
        return total / (time.monotonic() - start)


def measure(rate: int, seconds: float) -> dict[str, Any]:
    """One run on a fresh stack."""
    args = argparse.Namespace(rate=rate, seconds=seconds)
    with cdc_stack("bench-lag") as (dsn, kafka, children):
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SET TIME ZONE 'Europe/Paris'")
            for sql in SEED_MARKET:
                conn.execute(sql)
        children.start("acl.relay")
        children.start("acl")
        say("waiting for the snapshot (20 listings) to reach smp.market.v1")
        counter = TopicCounter(kafka.bootstrap_servers, "smp.market.v1")

        def snapshot_arrived() -> bool:
            counter.poll(0.5)
            return counter.count >= 20

        try:
            wait_until(snapshot_arrived, timeout=120, what="the snapshot on smp.market.v1", interval=0)
        except NotReady as late:
            raise SystemExit(str(late)) from None
        finally:
            counter.close()
        reader = Reader(kafka.bootstrap_servers)
        reader.start()
        time.sleep(2)  # warm: reader assigned, consumer group settled
        load = LoadSampler()
        committed: dict[int, float] = {}
        cpu = CpuMeter({"relay": children.pid("acl.relay"), "acl": children.pid("acl"), "broker": kafka.pid})
        say(f"writing {args.rate}/s for {args.seconds:.0f}s")
        broker_cpu = CpuWindows(kafka.pid)  # first reading as the writing starts
        achieved = write_sales(dsn, args.rate, args.seconds, committed, load, broker_cpu)
        with contextlib.suppress(NotReady):  # what is still missing then is reported as missing
            wait_until(lambda: len(reader.arrived) >= len(committed), timeout=15, what="every write's event")
        cpu_report = cpu.report(len(committed))
        reader.stop.set()
        reader.join(5)
        lags = sorted((reader.arrived[n] - t) * 1000 for n, t in committed.items() if n in reader.arrived)
        return {
            "benchmark": "cdc_lag",
            "path": "legacy commit -> Debezium relay -> legacy.public.smp_sale -> ACL -> smp.market.v1",
            "target_writes_per_second": args.rate,
            "achieved_writes_per_second": round(achieved, 1),
            "seconds": args.seconds,
            "writes": len(committed),
            "events_received": len(lags),
            "missing": len(committed) - len(lags),
            "lag_ms": {
                "p50": round(percentile(lags, 50), 1),
                "p90": round(percentile(lags, 90), 1),
                "p99": round(percentile(lags, 99), 1),
                "max": round(lags[-1], 1) if lags else None,
                "min": round(lags[0], 1) if lags else None,
            },
            "targets_ms": {"p50": 100, "p99": 300},
            "p99_ms_per_10s_window": windows(committed, reader.arrived, args.rate),
            "stages_ms": stages(committed, reader),
            "cpu_by_part": cpu_report,
            "broker_cpu_share_per_10s_window": broker_cpu.shares(),
            "load": load.report(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    print(json.dumps(measure(args.rate, args.seconds), indent=2))


if __name__ == "__main__":
    main()
