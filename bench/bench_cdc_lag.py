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
import json
import threading
import time

import psycopg
from _cdc_bench_stack import SEED_MARKET, LoadSampler, TopicCounter, cdc_stack, say


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
        lags = sorted((arrived[n] - committed[n]) * 1000 for n in range(first, min(first + size, len(committed) + 1))
                      if n in arrived)
        out.append(round(percentile(lags, 99), 1))
    return out


class Reader(threading.Thread):
    """Tails smp.market.v1 and records the arrival time of each sale event."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(daemon=True)
        from confluent_kafka import OFFSET_END, Consumer, TopicPartition

        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-lag-reader",
                                  "enable.auto.commit": False, "fetch.wait.max.ms": 5, "fetch.min.bytes": 1})
        meta = self.consumer.list_topics("smp.market.v1", timeout=10).topics["smp.market.v1"]
        self.consumer.assign([TopicPartition("smp.market.v1", p, OFFSET_END) for p in meta.partitions])
        self.arrived: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for message in self.consumer.consume(1000, 0.01):
                if message.error() is None:
                    key = message.key() or b""
                    if key.startswith(b"sales/"):
                        self.arrived.setdefault(int(key[6:]), time.time())
        self.consumer.close()


def write_sales(dsn: str, rate: int, seconds: float, committed: dict[int, float], load: LoadSampler) -> float:
    """Paced single-row transactions; returns the achieved writes/s."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'Europe/Paris'")
        insert = ("INSERT INTO smp_sale (id, lst_id, byr_id, sllr_id, itm_id, qty, prc_cp, tot_cp, fee_cp, sld_at)"
                  " VALUES (%s, 1, 2, 2, 2, 1, 101, 101, 5, localtimestamp)")
        total = int(rate * seconds)
        start = time.monotonic()
        next_report = start + 5
        for n in range(1, total + 1):
            conn.execute(insert, (n,), prepare=True)
            committed[n] = time.time()
            now = time.monotonic()
            if now >= next_report:
                load.sample()
                say(f"{n}/{total} writes, load {load.samples[-1]:.2f}")
                next_report += 5
            pause = start + n / rate - now
            if pause > 0:
                time.sleep(pause)
        return total / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    with cdc_stack("bench-lag") as (dsn, kafka, children):
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SET TIME ZONE 'Europe/Paris'")
            for sql in SEED_MARKET:
                conn.execute(sql)
        children.start("acl.relay")
        children.start("acl")
        say("waiting for the snapshot (20 listings) to reach smp.market.v1")
        counter = TopicCounter(kafka.bootstrap_servers, "smp.market.v1")
        deadline = time.monotonic() + 120
        while counter.count < 20 and time.monotonic() < deadline:
            counter.poll(0.5)
        counter.close()
        if counter.count < 20:
            raise SystemExit("snapshot did not arrive within 120 s")
        reader = Reader(kafka.bootstrap_servers)
        reader.start()
        time.sleep(2)  # warm: reader assigned, consumer group settled
        load = LoadSampler()
        committed: dict[int, float] = {}
        say(f"writing {args.rate}/s for {args.seconds:.0f}s")
        achieved = write_sales(dsn, args.rate, args.seconds, committed, load)
        deadline = time.monotonic() + 15
        while len(reader.arrived) < len(committed) and time.monotonic() < deadline:
            time.sleep(0.1)
        reader.stop.set()
        reader.join(5)
        lags = sorted((reader.arrived[n] - t) * 1000 for n, t in committed.items() if n in reader.arrived)
        result = {
            "benchmark": "cdc_lag",
            "path": "legacy commit -> Debezium relay -> legacy.public.smp_sale -> ACL -> smp.market.v1",
            "target_writes_per_second": args.rate,
            "achieved_writes_per_second": round(achieved, 1),
            "seconds": args.seconds,
            "writes": len(committed),
            "events_received": len(lags),
            "missing": len(committed) - len(lags),
            "lag_ms": {"p50": round(percentile(lags, 50), 1), "p90": round(percentile(lags, 90), 1),
                       "p99": round(percentile(lags, 99), 1), "max": round(lags[-1], 1) if lags else None,
                       "min": round(lags[0], 1) if lags else None},
            "targets_ms": {"p50": 100, "p99": 300},
            "p99_ms_per_10s_window": windows(committed, reader.arrived, args.rate),
            "load": load.report(),
        }
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
