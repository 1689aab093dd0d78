"""Data parity at scale: ``strangler parity check`` on N sales (default 1M).

Starts a throwaway embedded PostgreSQL, fills a legacy database (the
monolith's column names and types for ``smp_itm``, ``smp_lst``,
``smp_sale`` with its indexes) and the pricing and market stores with the
same market (``generate_series``, seconds), changes one row behind each
service's back, then runs both parity checks and reports wall time, this
process's CPU time and its peak memory. Prints one JSON object on stdout.

    .venv/bin/python bench/bench_parity.py [--sales 1000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from local_stack.postgres import EmbeddedPostgres
from migration_plan.parity import MARKET, PRICING, check_parity

ITEMS = 200
SALES_PER_LISTING = 10
#: 90 days of trades ending 2026-11-30 (wall clock), one per second of spread.
T0 = "timestamp '2026-09-01 00:00:00'"

LEGACY = f"""
CREATE TABLE smp_itm (id bigint PRIMARY KEY, sku varchar(16) NOT NULL, nm varchar(64) NOT NULL,
    cat varchar(2) NOT NULL, rar smallint NOT NULL, act varchar(1) NOT NULL, crt_dt timestamp NOT NULL,
    xtr text NOT NULL);
CREATE TABLE smp_lst (id bigint PRIMARY KEY, sllr_id bigint NOT NULL, itm_id bigint NOT NULL, qty int NOT NULL,
    qty_rem int NOT NULL, prc_cp bigint NOT NULL, sts varchar(1) NOT NULL, crt_dt timestamp NOT NULL,
    upd_dt timestamp NOT NULL);
CREATE TABLE smp_sale (id bigint PRIMARY KEY, lst_id bigint NOT NULL, byr_id bigint NOT NULL,
    sllr_id bigint NOT NULL, itm_id bigint NOT NULL, qty int NOT NULL, prc_cp bigint NOT NULL,
    tot_cp bigint NOT NULL, fee_cp bigint NOT NULL, sld_at timestamp NOT NULL);
INSERT INTO smp_itm SELECT i, 'SKU-' || i, 'Item ' || i, 'WP', i % 5, 'Y', {T0}, '' FROM generate_series(1, {ITEMS}) i;
INSERT INTO smp_lst SELECT l, 1 + l % 997, 1 + l % {ITEMS}, 20, 10, 100 + l % 5000, 'O',
    {T0} + make_interval(secs => l), {T0} + make_interval(secs => l)
    FROM generate_series(1, %(listings)s) l;
INSERT INTO smp_sale SELECT s, 1 + (s - 1) / {SALES_PER_LISTING}, 1 + s % 991, 1 + ((s - 1) / {SALES_PER_LISTING} + 1) % 997,
    1 + ((s - 1) / {SALES_PER_LISTING} + 1) % {ITEMS}, 1, 100 + ((s - 1) / {SALES_PER_LISTING} + 1) % 5000,
    100 + ((s - 1) / {SALES_PER_LISTING} + 1) % 5000, 5, {T0} + make_interval(secs => s * 7)
    FROM generate_series(1, %(sales)s) s;
CREATE INDEX smp_sale_lst ON smp_sale (lst_id);
CREATE INDEX smp_sale_itm_sld ON smp_sale (itm_id, sld_at);
ANALYZE;
"""
PRICING_STORE = f"""
CREATE TABLE items (item_id bigint PRIMARY KEY, sku varchar(64) NOT NULL);
CREATE TABLE sales (sale_id bigint PRIMARY KEY, item_id bigint NOT NULL, sold_at timestamp NOT NULL,
    quantity int NOT NULL, unit_price bigint NOT NULL, total bigint NOT NULL);
INSERT INTO items SELECT i, 'SKU-' || i FROM generate_series(1, {ITEMS}) i;
INSERT INTO sales SELECT s, 1 + ((s - 1) / {SALES_PER_LISTING} + 1) % {ITEMS}, {T0} + make_interval(secs => s * 7), 1,
    100 + ((s - 1) / {SALES_PER_LISTING} + 1) % 5000, 100 + ((s - 1) / {SALES_PER_LISTING} + 1) % 5000
    FROM generate_series(1, %(sales)s) s;
CREATE INDEX sales_item_time ON sales (item_id, sold_at, sale_id);
UPDATE sales SET total = total + 1 WHERE sale_id = 4242;
ANALYZE;
"""
MARKET_STORE = f"""
CREATE TABLE listings (listing_id bigint PRIMARY KEY, seller_id bigint NOT NULL, item_id bigint NOT NULL,
    quantity int NOT NULL, quantity_remaining int NOT NULL, unit_price bigint NOT NULL, status varchar(1) NOT NULL,
    created_at timestamp NOT NULL, updated_at timestamp NOT NULL);
CREATE TABLE sales (sale_id bigint PRIMARY KEY, listing_id bigint NOT NULL, buyer_id bigint NOT NULL,
    seller_id bigint NOT NULL, item_id bigint NOT NULL, quantity int NOT NULL, unit_price bigint NOT NULL,
    total bigint NOT NULL, fee bigint NOT NULL, sold_at timestamp NOT NULL);
INSERT INTO listings SELECT l, 1 + l % 997, 1 + l % {ITEMS}, 20, 10, 100 + l % 5000, 'O',
    {T0} + make_interval(secs => l), {T0} + make_interval(secs => l)
    FROM generate_series(1, %(listings)s) l;
INSERT INTO sales SELECT s, 1 + (s - 1) / {SALES_PER_LISTING}, 1 + s % 991, 1 + ((s - 1) / {SALES_PER_LISTING} + 1) % 997,
    1 + ((s - 1) / {SALES_PER_LISTING} + 1) % {ITEMS}, 1, 100 + ((s - 1) / {SALES_PER_LISTING} + 1) % 5000,
    100 + ((s - 1) / {SALES_PER_LISTING} + 1) % 5000, 5, {T0} + make_interval(secs => s * 7)
    FROM generate_series(1, %(sales)s) s;
CREATE INDEX sales_listing ON sales (listing_id);
UPDATE listings SET quantity_remaining = 9 WHERE listing_id = 777;
ANALYZE;
"""


def fill(dsn: str, script: str, sales: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in (s.strip() for s in script.split(";")):
            if statement:
                conn.execute(
                    statement.replace("%(sales)s", str(sales)).replace("%(listings)s", str(sales // SALES_PER_LISTING))
                )  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=1_000_000)
    args = parser.parse_args()
    results: dict[str, object] = {"sales": args.sales, "listings": args.sales // SALES_PER_LISTING, "items": ITEMS}
    with tempfile.TemporaryDirectory() as tmp, EmbeddedPostgres(Path(tmp) / "data") as pg:
        started = time.monotonic()
        dsns = {name: pg.create_database(name) for name in ("legacy", "pricing", "market")}
        fill(dsns["legacy"], LEGACY, args.sales)
        fill(dsns["pricing"], PRICING_STORE, args.sales)
        fill(dsns["market"], MARKET_STORE, args.sales)
        results["fill_s"] = round(time.monotonic() - started, 1)
        print(f"filled in {results['fill_s']} s", file=sys.stderr)
        for spec in (PRICING, MARKET):
            cpu, wall = time.process_time(), time.monotonic()
            report = check_parity(spec, dsns["legacy"], dsns[spec.context], deadline_s=3600)
            results[spec.context] = {
                "wall_s": round(time.monotonic() - wall, 1),
                "cpu_s_this_process": round(time.process_time() - cpu, 1),
                "compared": report.compared,
                "differing": [d[spec.aggregate] for d in report.differences],
                "counts": report.legacy,
            }
            print(f"{spec.context}: {results[spec.context]}", file=sys.stderr)
        results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        results["load_average_1m"] = Path("/proc/loadavg").read_text().split()[0]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
