"""Benchmark the monolith's slow read: ``GET /api/items/{id}/rate/`` at 1M sales.

Starts an embedded PostgreSQL in a temporary directory (or reuses
``--data-dir``), migrates, seeds with ``seed_market`` (COPY), serves the
monolith under gunicorn (2 workers) and times a bounded number of sequential
keep-alive requests with httpx over random sold items. Progress goes to
stderr; stdout gets one JSON object::

    python bench/bench_legacy_rate.py [--sales 1000000] [--requests 2000] [--data-dir DIR]

This p50 is the figure the new pricing service (a CQRS read model) has to beat.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local_stack.net import free_port  # noqa: E402
from local_stack.postgres import EmbeddedPostgres  # noqa: E402
from local_stack.processes import ManagedProcess, wait_until  # noqa: E402


def log(message: str) -> None:
    print(f"[bench_legacy_rate] {message}", file=sys.stderr, flush=True)


def manage(env: dict[str, str], *args: str) -> str:
    """Run a management command; its stderr (progress bars) passes through."""
    result = subprocess.run(
        [sys.executable, "-m", "legacy_monolith.manage", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return result.stdout


def existing_sales(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM smp_sale").fetchone()[0])


def seed(env: dict[str, str], dsn: str, args: argparse.Namespace) -> dict[str, float | None]:
    """Seed unless the database already holds enough sales (``--data-dir`` reuse)."""
    have = existing_sales(dsn)
    if have >= args.sales:
        log(f"reusing {have} seeded sales")
        return {"seed_seconds": None, "seed_rows_per_second": None, "reused": True}
    mode = ["--force"] if have else []
    log(f"seeding {args.sales} sales, {args.players} players, {args.items} items")
    started = time.monotonic()
    out = manage(
        env,
        "seed_market",
        "--sales",
        str(args.sales),
        "--players",
        str(args.players),
        "--items",
        str(args.items),
        *mode,
    )
    wall = time.monotonic() - started
    summary = json.loads(out.strip().splitlines()[-1])
    return {
        "seed_seconds": round(summary["seconds"], 1),
        "seed_wall_seconds": round(wall, 1),
        "seed_rows_per_second": summary["sales_per_second"],
        "reused": False,
    }


def sold_items(dsn: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        return [row[0] for row in conn.execute("SELECT DISTINCT itm_id FROM smp_lst WHERE sts = 'F'")]


def start_gunicorn(env: dict[str, str], port: int, workers: int, log_file: Path) -> ManagedProcess:
    return ManagedProcess(
        "gunicorn",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "legacy_monolith.smp.wsgi:application",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        log_file=log_file,
        env=env,
        cwd=ROOT,
    ).start()


def serves_items(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/items/?limit=1", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def measure(base: str, items: list[int], requests: int, warmup: int) -> list[float]:
    rng = random.Random(42)
    latencies: list[float] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for index in range(warmup + requests):
            item = rng.choice(items)
            started = time.perf_counter()
            response = client.get(f"/api/items/{item}/rate/")
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"rate of item {item}: HTTP {response.status_code}")
            if index >= warmup:
                latencies.append(elapsed * 1000)
            if index and index % 500 == 0:
                log(f"{index}/{warmup + requests} requests")
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sales", type=int, default=1_000_000)
    parser.add_argument("--players", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=None, help="keep the database here for reuse")
    args = parser.parse_args()

    temp = None if args.data_dir else tempfile.TemporaryDirectory(prefix="bench_legacy_rate_")
    root = args.data_dir or Path(temp.name)  # type: ignore[union-attr]
    try:
        with EmbeddedPostgres(root / "pgdata") as pg:
            dsn = pg.create_database("smp")
            env = {
                **os.environ,
                "STRANGLER_LEGACY_DATABASE_URL": dsn,
                "PYTHONPATH": str(ROOT),
            }  # the monolith's own setting
            log(f"PostgreSQL on {pg.host}:{pg.port}; migrating")
            manage(env, "migrate", "-v0")
            result: dict[str, object] = {"sales": args.sales, **seed(env, dsn, args)}
            items = sold_items(dsn)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            server = start_gunicorn(env, port, args.workers, root / "gunicorn.log")
            try:
                wait_until(lambda: serves_items(base), timeout=30, what="gunicorn", watch=server, interval=0.2)
                log(
                    f"gunicorn -w {args.workers} on {base}; {args.requests} sequential requests over {len(items)} items"
                )
                started = time.monotonic()
                latencies = measure(base, items, args.requests, args.warmup)
                seconds = time.monotonic() - started
            finally:
                server.stop(10)
            result.update(
                {
                    "endpoint": "GET /api/items/{id}/rate/",
                    "requests": len(latencies),
                    "p50_ms": percentile(latencies, 0.50),
                    "p95_ms": percentile(latencies, 0.95),
                    "p99_ms": percentile(latencies, 0.99),
                    "mean_ms": round(statistics.fmean(latencies), 2),
                    "max_ms": round(max(latencies), 2),
                    "requests_per_second_sequential": round((args.warmup + args.requests) / seconds, 1),
                    "gunicorn_workers": args.workers,
                }
            )
            print(json.dumps(result))
    finally:
        if temp is not None:
            temp.cleanup()


if __name__ == "__main__":
    main()
