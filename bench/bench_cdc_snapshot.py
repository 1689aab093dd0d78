"""Snapshot throughput: N seeded sales -> SaleRecorded events on smp.market.v1.

Seeds the migrated legacy tables with plain SQL (INSERT ... SELECT
generate_series), then starts the relay (Debezium snapshot) and the ACL
consumer and times until every sale is a domain event on its topic. Prints
one JSON object on stdout; progress on stderr.

    .venv/bin/python bench/bench_cdc_snapshot.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import time

import psycopg
from _cdc_bench_stack import SEED_MARKET, LoadSampler, TopicCounter, cdc_stack, say


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    with cdc_stack("bench-snapshot") as (dsn, kafka, children):
        say(f"seeding {args.rows} sales")
        t = time.monotonic()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SET TIME ZONE 'Europe/Paris'")
            for sql in SEED_MARKET:
                conn.execute(sql)
            conn.execute(
                "INSERT INTO smp_sale (id, lst_id, byr_id, sllr_id, itm_id, qty, prc_cp, tot_cp, fee_cp, sld_at)"
                " SELECT g, 1 + g %% 20, 1 + (g * 7) %% 100, 1 + (1 + g %% 20) %% 100, 1 + (1 + g %% 20) %% 20, 1 + g %% 5,"
                " 100 + (1 + g %% 20), (1 + g %% 5) * (100 + (1 + g %% 20)), ((1 + g %% 5) * (100 + (1 + g %% 20))) / 20,"
                " timestamp '2024-01-01' + g * interval '1 second' FROM generate_series(1, %s) g", (args.rows,))
            conn.execute("VACUUM ANALYZE smp_sale")
        seed_s = time.monotonic() - t
        say(f"seeded in {seed_s:.1f}s; starting relay + acl")
        load = LoadSampler()
        started = time.monotonic()
        children.start("acl.relay")
        children.start("acl")
        counter = TopicCounter(kafka.bootstrap_servers, "smp.market.v1")
        deadline = started + args.timeout
        expected = args.rows + 20  # SaleRecorded + the 20 ListingOpened
        first_at = None
        last_report = 0.0
        while time.monotonic() < deadline and counter.count < expected:
            if counter.poll(0.5) and first_at is None:
                first_at = time.monotonic()
            if time.monotonic() - last_report > 5:
                load.sample()
                say(f"{counter.count}/{expected} market events, {time.monotonic() - started:.0f}s")
                last_report = time.monotonic()
        done_at = time.monotonic()
        total = counter.count
        counter.close()
        total_s, flow_s = done_at - started, done_at - (first_at or started)
        print(json.dumps({
            "benchmark": "cdc_snapshot",
            "rows": args.rows,
            "events_on_topic": total,
            "completed": total >= expected,
            "seed_seconds": round(seed_s, 1),
            "seconds_from_relay_start": round(total_s, 2),
            "seconds_first_to_last_event": round(flow_s, 2),
            "rows_per_second_end_to_end": round(args.rows / total_s),
            "rows_per_second_while_flowing": round(args.rows / flow_s),
            "target_rows_per_second": 10_000,
            "load": load.report(),
        }, indent=2))


if __name__ == "__main__":
    main()
