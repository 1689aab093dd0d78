"""The first endpoints move: pricing on the real stack (``strangler up`` with
embedded PostgreSQL, broker, Debezium, ACL, pricing and the proxy).

Every check goes through the parts a user touches: the proxy, the CLI and
the monolith's own database. The stack is the session's shared one; the
tests leave every route at ``legacy`` when they end.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from stack_support import SEEDED_SALES, ClientThreads, RunningStack, cli, set_table

from local_stack.processes import wait_until

RATE = "GET /api/items/{id}/rate/"
HISTORY = "GET /api/items/{id}/history/"
HISTORY_QUERIES = (
    "",
    "?interval=5m&days=1",
    "?interval=15m&days=3",
    "?interval=1h&days=7",
    "?interval=4h&days=30",
    "?interval=1d&days=90",
)
#: What clients get wrong, answered by DRF's validation and negotiation.
ODD_QUERIES = (
    "?interval=2h",
    "?days=0",
    "?days=91",
    "?days=abc",
    "?days=7.0",
    "?days=",
    "?interval=",
    "?interval=5m&days=30",
    "?interval=2h&days=abc",
    "?format=json",
    "?format=xml",
)
ODD_IDS = ("abc", "0", "007", "99999999999999999999")
ITEMS = 200  # seed_market's default catalogue


def pricing_route(key: str, mode: str, **extra: Any) -> dict[str, Any]:
    method, path = key.split(" ", 1)
    return {"methods": [method], "path": path, "mode": mode, "service": "pricing", "ignore": ["$.as_of"], **extra}


def shadow_outcomes(stack: RunningStack) -> Counter[str]:
    """``strangler_shadow_total`` of both pricing routes, by outcome."""
    text = httpx.get(f"{stack.endpoints['proxy_admin']}/_strangler/metrics", timeout=10).text
    outcomes: Counter[str] = Counter()
    for line in text.splitlines():
        if line.startswith("strangler_shadow_total{") and ("/rate/" in line or "/history/" in line):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            outcomes[outcome] += int(float(line.rsplit(" ", 1)[1]))
    return outcomes


def pricing_ready(stack: RunningStack, at_least: int = 0) -> bool:
    try:
        body = httpx.get(f"{stack.endpoints['services']['pricing']}/readyz", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return False
    return bool(body["ready"]) and body["events_applied"] >= at_least


def count(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute(sql).fetchone()[0])


def caught_up_with_legacy(stack: RunningStack) -> bool:
    """Ready, and every sale of the monolith is in pricing's read model."""
    databases = stack.endpoints["databases"]
    return pricing_ready(stack) and (
        count(databases["pricing"], "SELECT count(*) FROM sales")
        == count(databases["legacy"], "SELECT count(*) FROM smp_sale")
    )


@pytest.fixture(scope="module")
def pricing_stack(stack: RunningStack) -> Iterator[RunningStack]:
    """The shared stack once pricing has caught up with the seeded market."""
    wait_until(lambda: caught_up_with_legacy(stack), timeout=180, what="pricing to build its read model", interval=0.5)
    yield stack
    set_table(stack, [], "e2e: back to legacy")


def answers(base: str, items: range, queries: tuple[str, ...] = HISTORY_QUERIES) -> dict[str, tuple[int, Any]]:
    """Status and JSON of every rate and history answer, ``as_of`` left out."""
    out: dict[str, tuple[int, Any]] = {}
    with httpx.Client(base_url=base, timeout=15) as client:
        for item in items:
            for path in [f"/api/items/{item}/rate/"] + [f"/api/items/{item}/history/{q}" for q in queries]:
                response = client.get(path)
                body = response.json()
                if isinstance(body, dict):
                    body.pop("as_of", None)
                out[path] = (response.status_code, body)
    return out


def test_pricing_is_started_listed_and_ready(pricing_stack: RunningStack) -> None:
    listed = json.loads(cli(pricing_stack, "services", "list", "--json").stdout)
    assert sorted(row["name"] for row in listed) == ["market", "pricing"]
    [pricing] = [row for row in listed if row["name"] == "pricing"]
    assert pricing["ready"] is True and pricing["events_applied"] >= SEEDED_SALES, listed
    assert pricing["url"] == pricing_stack.endpoints["services"]["pricing"]
    table = cli(pricing_stack, "services", "list").stdout
    assert "pricing" in table and "yes" in table


def test_shadow_over_every_item_finds_no_mismatch(pricing_stack: RunningStack) -> None:
    before = shadow_outcomes(pricing_stack)
    set_table(pricing_stack, [pricing_route(RATE, "shadow"), pricing_route(HISTORY, "shadow")], "e2e: shadow")
    proxy = pricing_stack.endpoints["proxy"]
    sent = answers(proxy, range(ITEMS + 2))  # 0 and 201: unknown items
    assert all(status in (200, 404) for status, _ in sent.values())
    with httpx.Client(base_url=proxy, timeout=15) as client:
        odd = [client.get(f"/api/items/{item}/history/{query}") for item in (1, 2) for query in ODD_QUERIES]
        odd += [client.get(f"/api/items/{item}/{what}/") for item in ODD_IDS for what in ("rate", "history")]
        odd += [client.get("/api/items/3/rate/", headers={"accept": accept}) for accept in ("text/html", "")]
    assert {r.status_code for r in odd} == {200, 400, 404, 406}
    requests = len(sent) + len(odd)

    def compared() -> Counter[str]:
        now = shadow_outcomes(pricing_stack)
        now.subtract(before)
        return now if sum(now.values()) >= requests else Counter()

    outcomes = wait_until(compared, timeout=60, what="every shadow comparison")
    assert outcomes["mismatch"] == 0 and outcomes["error"] == 0, outcomes
    assert outcomes["match"] + outcomes["noise"] == requests, outcomes
    set_table(pricing_stack, [], "e2e: back to legacy")


class Traffic(ClientThreads):
    """Clients reading both pricing endpoints through the proxy until stopped;
    every answer that is not a 200 (or an exception) is a failure."""

    join_timeout_s = 30.0

    def __init__(self, proxy: str, clients: int = 6) -> None:
        super().__init__()
        self.proxy, self.clients = proxy, clients
        self.served: Counter[str] = Counter()
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(clients)]

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=self.proxy, timeout=10) as client:  # own cookie jar: own canary bucket
            while not self.stop.is_set():
                item = rng.randint(1, ITEMS)
                path = rng.choice([f"/api/items/{item}/rate/", f"/api/items/{item}/history/?interval=1h&days=7"])
                try:
                    response = client.get(path)
                except httpx.HTTPError as exc:
                    self.failures.append(f"{path}: {exc!r}")
                    continue
                if response.status_code != 200:
                    self.failures.append(f"{path}: {response.status_code} {response.text[:200]}")
                self.served[response.headers.get("x-strangler-upstream", "?")] += 1

    def requests(self) -> int:
        return sum(self.served.values())


def test_both_routes_flip_through_every_mode_under_traffic(pricing_stack: RunningStack) -> None:
    set_table(pricing_stack, [], "e2e: start from legacy")
    mismatches_before = shadow_outcomes(pricing_stack)["mismatch"]
    with Traffic(pricing_stack.endpoints["proxy"]) as traffic:
        steps = [("shadow", []), ("canary", ["--weight", "50"]), ("new", []), ("legacy", [])]
        for mode, extra in steps:
            for route in (RATE, HISTORY):
                service = [] if mode == "legacy" else ["--service", "pricing"]
                cli(pricing_stack, "routes", "set", route, "--mode", mode, *service, *extra, "--reason", f"e2e {mode}")
            seen = traffic.requests()
            wait_until(lambda seen=seen: traffic.requests() >= seen + 150, timeout=60, what=f"traffic in {mode} mode")
            if mode == "new":
                pricing_before = traffic.served["pricing"]
                wait_until(
                    lambda pricing_before=pricing_before: traffic.served["pricing"] >= pricing_before + 100,
                    timeout=30,
                    what="pricing to serve in new mode",
                )
    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.served["pricing"] > 0 and traffic.served["legacy"] > 0, traffic.served
    assert shadow_outcomes(pricing_stack)["mismatch"] == mismatches_before


def _open_listing_to_buy(legacy_dsn: str, token: str) -> tuple[int, int]:
    """The cheapest open listing the token's player does not sell himself."""
    with psycopg.connect(legacy_dsn) as conn:
        buyer_id = conn.execute(
            "SELECT p.id FROM smp_plyr p JOIN authtoken_token t ON t.user_id = p.usr_id WHERE t.key = %s", (token,)
        ).fetchone()[0]
        row = conn.execute(
            "SELECT l.id, l.itm_id FROM smp_lst l JOIN smp_plyr p ON p.id = l.sllr_id "
            "WHERE l.sts = 'O' AND l.qty_rem > 0 AND l.sllr_id <> %s ORDER BY l.prc_cp LIMIT 1",
            (buyer_id,),
        ).fetchone()
    assert row is not None, "the seeded market has no open listing"
    return int(row[0]), int(row[1])


def test_a_sale_through_the_monolith_is_in_pricings_rate_within_a_second(pricing_stack: RunningStack) -> None:
    endpoints = pricing_stack.endpoints
    token = (pricing_stack.state_dir / "demo-token").read_text().strip()
    listing_id, item_id = _open_listing_to_buy(endpoints["databases"]["legacy"], token)
    rate_url = f"{endpoints['services']['pricing']}/api/items/{item_id}/rate/"
    trades_before = httpx.get(rate_url, timeout=10).json()["volume_24h"]["trades"]

    bought = httpx.post(
        f"{endpoints['proxy']}/api/sales/",
        json={"listing": listing_id, "quantity": 1},
        headers={"authorization": f"Token {token}"},
        timeout=10,
    )
    committed = time.monotonic()
    assert bought.status_code == 201, bought.text
    sold_at = bought.json()["sold_at"]

    def visible() -> bool:
        rate = httpx.get(rate_url, timeout=5).json()
        return rate["last_sold_at"] == sold_at and rate["volume_24h"]["trades"] == trades_before + 1

    wait_until(visible, timeout=10, what="the sale in pricing's rate", interval=0.01)
    assert time.monotonic() - committed < 1.0


def _read_model(pricing_dsn: str) -> tuple[list[Any], list[Any], list[Any]]:
    with psycopg.connect(pricing_dsn) as conn:
        return (
            conn.execute("SELECT * FROM items ORDER BY item_id").fetchall(),
            conn.execute(
                "SELECT sale_id, item_id, sold_at, quantity, unit_price, total FROM sales ORDER BY sale_id"
            ).fetchall(),
            conn.execute("SELECT * FROM candles ORDER BY item_id, interval, bucket").fetchall(),
        )


def test_a_rebuild_gives_back_the_same_read_model_and_answers(pricing_stack: RunningStack) -> None:
    dsn = pricing_stack.endpoints["databases"]["pricing"]
    before = _read_model(dsn)
    result = json.loads(cli(pricing_stack, "services", "rebuild", "pricing", "--json").stdout)
    assert result["ready"] is True and result["events_applied"] >= SEEDED_SALES
    assert _read_model(dsn) == before
    legacy = answers(pricing_stack.endpoints["legacy"], range(1, 41), ("?interval=1h&days=7", "?interval=1d&days=90"))
    pricing = answers(
        pricing_stack.endpoints["services"]["pricing"], range(1, 41), ("?interval=1h&days=7", "?interval=1d&days=90")
    )
    assert pricing == legacy


class SaleWriter:
    """Numbered sales committed straight into the monolith's table, one per
    transaction, as fast as ``per_second`` allows, until stopped."""

    def __init__(self, legacy_dsn: str, per_second: float = 150.0) -> None:
        self.dsn, self.interval = legacy_dsn, 1.0 / per_second
        self.ids: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            listings = conn.execute(
                "SELECT l.id, l.sllr_id, l.itm_id, l.prc_cp, (SELECT min(id) FROM smp_plyr WHERE id <> l.sllr_id) "
                "FROM smp_lst l ORDER BY l.id LIMIT 50"
            ).fetchall()
            n = 0
            while not self.stop.is_set() and n < 5000:
                listing, seller, item, price, buyer = listings[n % len(listings)]
                row = conn.execute(
                    "INSERT INTO smp_sale (lst_id, byr_id, sllr_id, itm_id, qty, prc_cp, tot_cp, fee_cp, sld_at) "
                    "VALUES (%s, %s, %s, %s, 1, %s, %s, %s, (now() AT TIME ZONE 'Europe/Paris')::timestamp) RETURNING id",
                    (listing, buyer, seller, item, price, price, price * 5 // 100),
                ).fetchone()
                self.ids.append(int(row[0]))
                n += 1
                self.stop.wait(self.interval)  # paces the stream; returns at once when stopped

    def __enter__(self) -> SaleWriter:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def _per_item(dsn: str, sql: str) -> dict[int, tuple[int, int, int]]:
    with psycopg.connect(dsn) as conn:
        return {int(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in conn.execute(sql)}


def test_sigkill_of_pricing_mid_stream_loses_and_double_counts_nothing(pricing_stack: RunningStack) -> None:
    endpoints = pricing_stack.endpoints
    legacy_dsn, pricing_dsn = endpoints["databases"]["legacy"], endpoints["databases"]["pricing"]
    killed: list[int] = []
    with SaleWriter(legacy_dsn) as writer:
        for part in ("pricing-projector", "pricing", "pricing-projector"):
            wait_until(lambda: len(writer.ids) >= 150 * (len(killed) + 1), timeout=60, what="sales to flow")
            pid = pricing_stack.endpoints["processes"][part]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            wait_until(
                lambda part=part, pid=pid: pricing_stack.endpoints["processes"][part] != pid,
                timeout=30,
                what=f"the launcher to restart {part}",
            )
    assert len(writer.ids) >= 450

    def caught_up() -> bool:
        with psycopg.connect(pricing_dsn) as conn:
            found = conn.execute("SELECT count(*) FROM sales WHERE sale_id = ANY(%s)", (writer.ids,)).fetchone()[0]
        return found == len(writer.ids)

    wait_until(caught_up, timeout=120, what="pricing to apply every numbered sale", interval=0.25)
    legacy = _per_item(legacy_dsn, "SELECT itm_id, count(*), sum(qty), sum(tot_cp) FROM smp_sale GROUP BY itm_id")
    in_sales = _per_item(pricing_dsn, "SELECT item_id, count(*), sum(quantity), sum(total) FROM sales GROUP BY item_id")
    in_candles = _per_item(
        pricing_dsn,
        "SELECT item_id, sum(trades), sum(volume), sum(value) FROM candles WHERE interval = '5m' GROUP BY item_id",
    )
    assert in_sales == legacy
    assert in_candles == legacy, "a candle counted a sale twice or missed one"
    wait_until(lambda: pricing_ready(pricing_stack), timeout=60, what="pricing ready again")


def test_the_readmes_flip_commands_work_as_written(pricing_stack: RunningStack) -> None:
    """Every ``strangler routes set`` line of the README, in order, as a user types it."""
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    commands = [
        shlex.split(line.split("#", 1)[0]) for line in readme.splitlines() if line.startswith("strangler routes set ")
    ]
    assert len(commands) >= 5
    set_table(pricing_stack, [], "e2e: README from legacy")
    for words in commands:
        cli(pricing_stack, *words[1:])
    set_table(pricing_stack, [], "e2e: back to legacy")


#: The monolith refuses some schema-valid history requests (days x interval
#: over 3000 candles, a rule spanning two parameters), and so must pricing.
SCHEMATHESIS_CONFIG = """
[[operations]]
include-operation-id = "items_history"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx", "400"]
"""


def test_schemathesis_holds_pricing_to_the_monoliths_openapi(pricing_stack: RunningStack, tmp_path: Any) -> None:
    """A client no one here wrote, reading the *monolith's* document, finds
    nothing to object to once both routes are served by pricing."""
    import sys

    proxy = pricing_stack.endpoints["proxy"]
    set_table(pricing_stack, [pricing_route(RATE, "new"), pricing_route(HISTORY, "new")], "e2e: schemathesis")
    assert httpx.get(f"{proxy}/api/items/1/rate/", timeout=10).headers["x-strangler-upstream"] == "pricing"
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "run",
            f"{proxy}/api/schema/",
            "--include-operation-id",
            "items_rate",
            "--include-operation-id",
            "items_history",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "50",
            "--seed",
            "20261201",
            "--no-color",
            "--generation-database",
            "none",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )
    set_table(pricing_stack, [], "e2e: back to legacy")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Tested: 2" in result.stdout
