"""Benchmark of a purchase through the proxy: the monolith against the market
service's saga, on one stack, in one run.

Starts ``strangler up --seed-sales N`` (temporary state dir, free loopback
ports), registers buyers and one seller through the proxy (legacy tokens),
gives them gold and items in the monolith's tables, opens one large listing,
then times ``POST /api/sales/`` (quantity 1) sequentially at one connection:
rounds alternate between the write routes at ``legacy`` (the monolith's one
transaction) and at ``new`` (the market: reserve, settle through the
monolith's ``/_internal/settlements/``, confirm, outbox), so a drift in the
machine's load falls on both sides. Every answer must be 201 from the side
the table names (``x-strangler-upstream``).

One JSON object on stdout (p50/p90/p99 per side and the market/legacy
ratios), progress on stderr::

    .venv/bin/python bench/bench_market_writes.py [--sales 20000] [--purchases 400] [--rounds 4]
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _cdc_bench_stack import LoadSampler, say  # noqa: E402
from bench_pricing import Stack, _exit_on_sigterm, stats  # noqa: E402

from local_stack.processes import wait_until  # noqa: E402

GOLD = 10_000


def write_routes(mode: str) -> list[dict[str, Any]]:
    return [
        {"methods": ["POST"], "path": path, "mode": mode, "service": "market", "writes": "market"}
        for path in ("/api/listings/", "/api/listings/{id}/cancel/", "/api/sales/")
    ]


class Proxy:
    def __init__(self, endpoints: dict[str, Any], state: Path) -> None:
        self.url = endpoints["proxy"]
        token = (state / "admin-token").read_text().strip()
        self.admin = httpx.Client(  # the admin API has its own listener (proxy_admin)
            base_url=endpoints.get("proxy_admin") or self.url,
            timeout=30,
            headers={"authorization": f"Bearer {token}", "x-strangler-actor": "bench"},
        )

    def writes_to(self, mode: str) -> None:
        answer = self.admin.put(
            "/_strangler/routes", json={"table": {"routes": write_routes(mode)}, "reason": f"bench: writes {mode}"}
        )
        if answer.status_code not in (200, 409):
            raise SystemExit(f"could not flip the writes to {mode}: {answer.status_code} {answer.text}")
        owner = "market" if mode == "new" else "legacy"
        wait_until(
            lambda: any(
                o["context"] == "market" and o["owner"] == owner
                for o in self.admin.get("/_strangler/owners").json()["owners"]
            ),
            timeout=15,
            what=f"the market's writes owned by {owner}",
            interval=0.05,
        )


def register(proxy: str, legacy_dsn: str, name: str, *, gold: int, items: dict[int, int]) -> tuple[int, str]:
    answer = httpx.post(
        f"{proxy}/api/players/", json={"name": name, "email": "", "password": "bench-password-1"}, timeout=30
    )
    if answer.status_code != 201:
        raise SystemExit(f"could not register {name}: {answer.status_code} {answer.text}")
    player, token = int(answer.json()["id"]), str(answer.json()["token"])
    with psycopg.connect(legacy_dsn) as conn:
        conn.execute("UPDATE smp_wlt SET bal_cp = %s WHERE plyr_id = %s", (gold * GOLD, player))
        for item, quantity in items.items():
            conn.execute(
                "INSERT INTO smp_inv (plyr_id, itm_id, qty) VALUES (%s, %s, %s)"
                " ON CONFLICT (plyr_id, itm_id) DO UPDATE SET qty = EXCLUDED.qty",
                (player, item, quantity),
            )
    return player, token


def purchases(proxy: str, token: str, listing: int, count: int, side: str) -> list[float]:
    """``count`` sequential purchases of one unit; milliseconds each."""
    timings: list[float] = []
    with httpx.Client(base_url=proxy, timeout=60, headers={"authorization": f"Token {token}"}) as client:
        for _ in range(count):
            started = time.perf_counter()
            answer = client.post("/api/sales/", json={"listing": listing, "quantity": 1})
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status_code == 503 and side == "market":  # the first write after a flip waits for catch-up
                continue
            if answer.status_code != 201 or answer.headers.get("x-strangler-upstream") != side:
                raise SystemExit(f"purchase on {side}: {answer.status_code} {answer.headers} {answer.text[:300]}")
            timings.append(elapsed)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sales", type=int, default=20_000)
    parser.add_argument("--purchases", type=int, default=400, help="per side, split over the rounds")
    parser.add_argument("--rounds", type=int, default=4, help="alternations legacy/market")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    state = Path(tempfile.mkdtemp(prefix="bench-market-"))
    stack = Stack(state, args.sales)
    load = LoadSampler()
    try:
        say(f"starting the stack with {args.sales} seeded sales")
        wait_until(lambda: (stack.check_alive() or stack.endpoints()) is not None, timeout=900, what="strangler up")
        endpoints = stack.endpoints()
        assert endpoints is not None
        legacy_dsn, market_dsn = endpoints["databases"]["legacy"], endpoints["databases"]["market"]
        proxy = Proxy(endpoints, state)
        with psycopg.connect(legacy_dsn) as conn:
            item = int(conn.execute("SELECT id FROM smp_itm WHERE act = 'Y' ORDER BY id LIMIT 1").fetchone()[0])
        stock = 2 * (args.purchases + 3 * args.rounds) + 10  # both sides, warm-ups included
        seller, seller_token = register(endpoints["proxy"], legacy_dsn, "benchseller", gold=0, items={item: stock})
        _, buyer_token = register(endpoints["proxy"], legacy_dsn, "benchbuyer", gold=10_000_000, items={})
        listed = httpx.post(
            f"{endpoints['proxy']}/api/listings/",
            json={"item": item, "quantity": stock, "unit_price_copper": 100},
            headers={"authorization": f"Token {seller_token}"},
            timeout=30,
        )
        if listed.status_code != 201:
            raise SystemExit(f"could not list: {listed.status_code} {listed.text}")
        listing = int(listed.json()["id"])
        say(f"listing {listing}: {stock} units of item {item} by player {seller}; waiting for the market to see it")

        def market_sees_listing() -> bool:
            with psycopg.connect(market_dsn) as conn:
                return bool(
                    conn.execute("SELECT count(*) FROM listings WHERE listing_id = %s", (listing,)).fetchone()[0]
                )

        wait_until(market_sees_listing, timeout=600, what="the market's projector to catch up", interval=0.5)
        per_round = max(1, args.purchases // args.rounds)
        timings: dict[str, list[float]] = {"legacy": [], "market": []}
        for round_number in range(args.rounds):
            for mode, side in (("legacy", "legacy"), ("new", "market")):
                proxy.writes_to(mode)
                load.sample()
                say(f"round {round_number + 1}/{args.rounds}: {per_round} purchases on {side}")
                purchases(endpoints["proxy"], buyer_token, listing, 3, side)  # warm-up, not timed
                timings[side] += purchases(endpoints["proxy"], buyer_token, listing, per_round, side)
        proxy.writes_to("legacy")
        load.sample()
        legacy, market = stats(timings["legacy"]), stats(timings["market"])
        result = {
            "benchmark": "market_writes",
            "seeded_sales": args.sales,
            "purchases_per_side": len(timings["market"]),
            "legacy": legacy,
            "market": market,
            "ratio_market_over_legacy": {
                key: round(market[key] / legacy[key], 2)  # type: ignore[operator]
                for key in ("p50_ms", "p90_ms", "p99_ms")
                if legacy[key] and market[key]
            },
            "load_average": load.report(),
        }
        print(json.dumps(result, indent=2))
    finally:
        stack.stop()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
