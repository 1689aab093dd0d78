"""Snapshot throughput: N seeded sales -> SaleRecorded events on smp.market.v1.

Seeds the migrated legacy tables with plain SQL (INSERT ... SELECT
generate_series), then starts the relay (Debezium snapshot) and the ACL
consumer and times until every sale is a domain event on its topic.

"On its topic" is established the cheap way while the clock runs: the ACL
group's committed offset on ``legacy.public.smp_sale`` (the ACL commits only
after the broker acknowledged the events it published). After the clock
stops, the domain topic is read whole and its events counted, so the figure
is checked, not assumed. ``--tail`` adds a reader tailing the domain topic
during the run, to show what a live downstream consumer costs the broker.

Prints one JSON object on stdout; progress on stderr.

    .venv/bin/python bench/bench_cdc_snapshot.py [--rows 1000000] [--tail]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import psycopg
from _cdc_bench_stack import (
    SEED_MARKET,
    Children,
    CpuMeter,
    GroupProgress,
    LoadSampler,
    TopicCounter,
    cdc_stack,
    say,
)

SEED_SALES = (
    "INSERT INTO smp_sale (id, lst_id, byr_id, sllr_id, itm_id, qty, prc_cp, tot_cp, fee_cp, sld_at)"
    " SELECT g, 1 + g %% 20, 1 + (g * 7) %% 100, 1 + (1 + g %% 20) %% 100, 1 + (1 + g %% 20) %% 20, 1 + g %% 5,"
    " 100 + (1 + g %% 20), (1 + g %% 5) * (100 + (1 + g %% 20)), ((1 + g %% 5) * (100 + (1 + g %% 20))) / 20,"
    " timestamp '2024-01-01' + g * interval '1 second' FROM generate_series(1, %s) g"
)


def seed(dsn: str, rows: int) -> float:
    t = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'Europe/Paris'")
        for sql in SEED_MARKET:
            conn.execute(sql)
        conn.execute(SEED_SALES, (rows,))
        conn.execute("VACUUM ANALYZE smp_sale")
    return time.monotonic() - t


def wait_for_acl(
    progress: GroupProgress,
    rows: int,
    children: Children,
    load: LoadSampler,
    tail: TopicCounter | None,
    deadline: float,
    started: float,
) -> tuple[float | None, int]:
    """Until the ACL committed every sale; returns (first progress time, committed)."""
    first_at, done, last_report = None, 0, 0.0
    while time.monotonic() < deadline:
        if tail is not None:
            tail.poll(0.2)
        else:
            time.sleep(0.1)
        done = progress.committed()
        if done and first_at is None:
            first_at = time.monotonic()
        if done >= rows:
            break
        if time.monotonic() - last_report > 5:
            children.check_alive()
            load.sample()
            say(f"{done}/{rows} sales translated and published, {time.monotonic() - started:.0f}s")
            last_report = time.monotonic()
    return first_at, done


def count_events(bootstrap: str, expected: int) -> int:
    """Read smp.market.v1 whole (after the clock stopped) and count events."""
    counter = TopicCounter(bootstrap, "smp.market.v1")
    idle_since = time.monotonic()
    while counter.count < expected and time.monotonic() - idle_since < 10:
        if counter.poll(0.5):
            idle_since = time.monotonic()
    counter.close()
    return counter.count


def measure(rows: int, timeout: float = 900, tail_topic: bool = False) -> dict[str, Any]:
    """One run on a fresh stack."""
    args = argparse.Namespace(rows=rows, timeout=timeout, tail=tail_topic)
    with cdc_stack("bench-snapshot") as (dsn, kafka, children):
        say(f"seeding {args.rows} sales")
        seed_s = seed(dsn, args.rows)
        say(f"seeded in {seed_s:.1f}s; starting relay + acl")
        load = LoadSampler()
        started = time.monotonic()
        children.start("acl.relay")
        children.start("acl")
        cpu = CpuMeter({"relay": children.pid("acl.relay"), "acl": children.pid("acl"), "broker": kafka.pid})
        progress = GroupProgress(kafka.bootstrap_servers, "strangler-acl", "legacy.public.smp_sale", 3)
        tail = TopicCounter(kafka.bootstrap_servers, "smp.market.v1") if args.tail else None
        first_at, done = wait_for_acl(progress, args.rows, children, load, tail, started + args.timeout, started)
        done_at = time.monotonic()
        cpu_report = cpu.report(args.rows)
        progress.close()
        if tail is not None:
            tail.close()
        expected = args.rows + 20  # SaleRecorded + the 20 ListingOpened
        say("counting the events on smp.market.v1")
        on_topic = count_events(kafka.bootstrap_servers, expected)
        total_s, flow_s = done_at - started, done_at - (first_at or started)
        result: dict[str, Any] = {
            "benchmark": "cdc_snapshot",
            "rows": args.rows,
            "tailing_reader_during_run": args.tail,
            "sales_committed_by_acl": done,
            "events_on_topic": on_topic,
            "completed": done >= args.rows and on_topic >= expected,
            "seed_seconds": round(seed_s, 1),
            "seconds_from_relay_start": round(total_s, 2),
            "seconds_first_to_last_commit": round(flow_s, 2),
            "rows_per_second_end_to_end": round(args.rows / total_s),
            "rows_per_second_while_flowing": round(args.rows / flow_s),
            "target_rows_per_second": 10_000,
            "cpu_by_part": cpu_report,
            "load": load.report(),
        }
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--tail", action="store_true", help="also tail the domain topic during the run")
    args = parser.parse_args()
    print(json.dumps(measure(args.rows, args.timeout, args.tail), indent=2))


if __name__ == "__main__":
    main()
