"""The relay's offset store, file vs JDBC, side by side in one run.

Runs ``bench_cdc_snapshot.measure`` (N seeded sales -> SaleRecorded) and
``bench_cdc_lag.measure`` (commit -> SaleRecorded at a sustained write rate)
once per store per round, each on a fresh stack, in ABBA order (file, jdbc,
jdbc, file, ...) so a drift in the shared machine's load falls on both
stores alike. Prints one JSON object: every run, each store's medians over
its runs and the ratios jdbc / file. Progress on stderr.

    .venv/bin/python bench/bench_cdc_offsets.py [--rows 100000] [--rate 2000] [--seconds 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import bench_cdc_lag
import bench_cdc_snapshot
from _cdc_bench_stack import OFFSET_STORES, say


def order(rounds: int) -> list[str]:
    """ABBA: file, jdbc, jdbc, file, file, jdbc, ..."""
    out: list[str] = []
    for n in range(rounds):
        out += list(OFFSET_STORES) if n % 2 == 0 else list(reversed(OFFSET_STORES))
    return out


def figures(snapshot: dict[str, Any], lag: dict[str, Any]) -> dict[str, Any]:
    return {
        "snapshot_rows_per_second_end_to_end": snapshot["rows_per_second_end_to_end"],
        "snapshot_rows_per_second_while_flowing": snapshot["rows_per_second_while_flowing"],
        "snapshot_completed": snapshot["completed"],
        "relay_cpu_us_per_snapshot_row": snapshot["cpu_by_part"].get("relay", {}).get("cpu_us_per_row"),
        "lag_p50_ms": lag["lag_ms"]["p50"],
        "lag_p99_ms": lag["lag_ms"]["p99"],
        "lag_missing": lag["missing"],
        "achieved_writes_per_second": lag["achieved_writes_per_second"],
        "relay_cpu_us_per_write": lag["cpu_by_part"].get("relay", {}).get("cpu_us_per_row"),
        "loadavg_1m_mean": statistics.mean(
            x for x in (snapshot["load"]["loadavg_1m_samples_mean"], lag["load"]["loadavg_1m_samples_mean"]) if x
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    runs: list[dict[str, Any]] = []
    for store in order(args.rounds):
        say(f"--- {store}: snapshot of {args.rows} rows")
        snapshot = bench_cdc_snapshot.measure(args.rows, timeout=300, offsets=store)
        say(f"--- {store}: {args.rate} writes/s for {args.seconds:.0f}s")
        lag = bench_cdc_lag.measure(args.rate, args.seconds, offsets=store)
        runs.append({"store": store, "at": time.strftime("%H:%M:%S"), **figures(snapshot, lag)})
        say(json.dumps(runs[-1]))
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float) and not isinstance(v, bool)]
    medians = {
        store: {k: statistics.median(r[k] for r in runs if r["store"] == store and r[k] is not None) for k in keys}
        for store in OFFSET_STORES
    }
    ratios = {k: round(medians["jdbc"][k] / medians["file"][k], 3) for k in keys if medians["file"][k]}
    print(
        json.dumps(
            {
                "benchmark": "cdc_offset_store",
                "rows": args.rows,
                "rate": args.rate,
                "seconds": args.seconds,
                "rounds": args.rounds,
                "runs": runs,
                "median": medians,
                "ratio_jdbc_over_file": ratios,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
