"""What one flush of the relay's offsets costs: Debezium's JDBC store
(``DELETE``, ``INSERT``, ``COMMIT`` with ``synchronous_commit=on``) against an
embedded PostgreSQL, next to rewriting a small file in place without fsync
(what Kafka's file store did). The relay flushes once a second, on the
thread that hands batches over, so this is what a flush can add to a lag.
Prints one JSON object.

    .venv/bin/python bench/bench_cdc_offset_flush.py [--flushes 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from local_stack.postgres import EmbeddedPostgres  # noqa: E402

#: JdbcOffsetBackingStoreConfig.DEFAULT_TABLE_DDL (debezium-storage-jdbc 3.6.3)
DDL = (
    "CREATE TABLE offsets (id VARCHAR(36) NOT NULL, offset_key VARCHAR(1255), offset_val VARCHAR(1255),"
    "record_insert_ts TIMESTAMP NOT NULL,record_insert_seq INTEGER NOT NULL,PRIMARY KEY (id))"
)
KEY = '["strangler-legacy-relay",{"server":"legacy"}]'
VALUE = '{"lsn_proc":33369544,"messageType":"MESSAGE","lsn_commit":33369544,"lsn":33369544,"ts_usec":1796152071092000}'


def quantiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "p50": round(statistics.median(ordered), 2),
        "p99": round(ordered[max(0, int(len(ordered) * 0.99) - 1)], 2),
        "max": round(ordered[-1], 2),
    }


def jdbc_flushes(dsn: str, n: int) -> list[float]:
    times = []
    with psycopg.connect(dsn) as conn:
        conn.execute(DDL)
        conn.commit()
        for seq in range(n):
            start = time.perf_counter()
            conn.execute("DELETE FROM offsets")
            conn.execute(
                "INSERT INTO offsets VALUES (%s, %s, %s, now(), %s)", (str(uuid.uuid4()), KEY, VALUE, seq), prepare=True
            )
            conn.commit()
            times.append((time.perf_counter() - start) * 1000)
            time.sleep(0.02)
    return times


def file_rewrites(path: Path, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        with open(path, "wb") as out:
            out.write(b"\xac\xed\x00\x05" + KEY.encode() + VALUE.encode())
        times.append((time.perf_counter() - start) * 1000)
        time.sleep(0.02)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flushes", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-offset-flush-") as tmp, EmbeddedPostgres(Path(tmp) / "pg") as pg:
        jdbc = jdbc_flushes(pg.create_database("strangler_control"), args.flushes)
        file = file_rewrites(Path(tmp) / "offsets.dat", args.flushes)
    result = {
        "benchmark": "cdc_offset_flush",
        "flushes": args.flushes,
        "jdbc_flush_ms": quantiles(jdbc),
        "file_rewrite_ms": quantiles(file),
        "loadavg": os.getloadavg(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
