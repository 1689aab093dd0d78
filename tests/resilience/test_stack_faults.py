"""Faults on the real stack, with numbered writes that must each land exactly
once: a new service that stops answering (the breaker), a storm of flips
of reads and writes under traffic, and SIGKILL of every part at random
moments (``strangler up`` restarts what dies, the way a supervisor would).

One stack of its own for the module (it kills parts of it), with two proxy
workers so one can die while the other serves. Checked by SQL where a user
would look: the monolith's tables, the market's store, pricing's read model,
and the gold and units of the world.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))  # the e2e stack helpers

from market_stack_support import (
    Player,
    market_table,
    one,
    register,
    route,
    rows,
    via_proxy,
    wait_in_sync,
    world,
)
from stack_support import ClientThreads, RunningStack, admin, set_table, stack_env, start_stack, stop_stack

from acl.relay_status import read_status
from local_stack.processes import wait_until
from migration_plan.parity import MARKET, PRICING, check_parity

#: The first test also starts the module's stack (minutes on a loaded 2-core machine).
pytestmark = pytest.mark.timeout(900)

RATE = "/api/items/{id}/rate/"
ITEMS = range(1, 21)  # items the streams read and sell
UNITS = 100_000  # each stream listing's quantity: never sold out


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    env = {**stack_env(), "STRANGLER_PROXY_WORKERS": "2"}
    running = start_stack(tmp_path_factory.mktemp("faults") / "state", env, "--seed-sales", "2000")
    try:
        wait_in_sync(running, "the market's store built from the seeded market", timeout=240)
        wait_until(lambda: pricing_has_every_sale(running), timeout=240, what="pricing's read model", interval=0.5)
        yield running
    finally:
        stop_stack(running)


# -- the parts of a numbered stream ------------------------------------------


@dataclass
class Trade:
    """A seller with one big listing per item, and a rich buyer."""

    seller: Player
    buyer: Player
    listings: list[int]


def active_items(stack: RunningStack) -> list[int]:
    """Items that can still be listed (the seeded catalogue retires some)."""
    legacy = stack.endpoints["databases"]["legacy"]
    return [int(r[0]) for r in rows(legacy, "SELECT id FROM smp_itm WHERE act = 'Y' ORDER BY id LIMIT %s", len(ITEMS))]


def open_trade(stack: RunningStack) -> Trade:
    """Listings made through the proxy while the monolith owns the writes."""
    items = active_items(stack)
    seller = register(stack, "seller", items=dict.fromkeys(items, UNITS))
    buyer = register(stack, "buyer", gold=10_000_000)
    listings = []
    for item in items:
        body = {"item": item, "quantity": UNITS, "unit_price_copper": 100 + item}
        created = via_proxy(stack, "POST", "/api/listings/", seller, json=body)
        assert created.status_code == 201, created.text
        listings.append(int(created.json()["id"]))
    wait_in_sync(stack, "the stream's listings in the market's store")
    return Trade(seller, buyer, listings)


@dataclass
class Outcomes:
    """What the clients saw: each acknowledged sale id, and every other answer."""

    sold: list[int] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    unknown: int = 0  # connection errors: the write may or may not have happened
    errors: list[str] = field(default_factory=list)  # what those errors were
    retried: list[str] = field(default_factory=list)  # GETs sent again after a connection closed unanswered

    def summary(self) -> str:
        """One line for the run's log (``pytest -s``): what was checked."""
        return (
            f"answers {dict(self.statuses)}, sales acknowledged {len(self.sold)}, outcome unknown {self.unknown}"
            f" {self.errors[:3]}, GETs retried {len(self.retried)}"
        )

    def failures(self) -> dict[str, int]:
        failed = {k: v for k, v in self.statuses.items() if not k.startswith(("2", "GET 2"))}
        return {**failed, **({"connection errors": self.unknown} if self.unknown else {})}


class Stream(ClientThreads):
    """Client threads through the proxy: buyers of one unit at a time on the
    trade's listings (numbered by the sale id the answer carries) and
    readers of the items' rates, until stopped (or a bound is reached)."""

    def __init__(self, stack: RunningStack, trade: Trade | None, *, writers: int = 2, readers: int = 1) -> None:
        super().__init__()
        self.stack, self.trade = stack, trade
        self.outcomes = Outcomes()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._buy, args=(n,)) for n in range(writers)]
        self.threads += [threading.Thread(target=self._read, args=(n,)) for n in range(readers)]

    def _record(self, key: str, sale_id: int | None = None) -> None:
        with self._lock:
            self.outcomes.statuses[key] += 1
            if sale_id is not None:
                self.outcomes.sold.append(sale_id)

    def _buy(self, offset: int) -> None:
        assert self.trade is not None, "writers need a trade"
        n = offset
        while not self.stop.is_set() and n < 20_000:
            listing = self.trade.listings[n % len(self.trade.listings)]
            n += 1
            try:
                answer = via_proxy(
                    self.stack, "POST", "/api/sales/", self.trade.buyer, json={"listing": listing, "quantity": 1}
                )
            except httpx.HTTPError:
                with self._lock:
                    self.outcomes.unknown += 1
                continue
            try:
                body = answer.json()
            except ValueError:
                body = {"code": "not_json"}
            code = body.get("code", "") if answer.status_code >= 400 and isinstance(body, dict) else ""
            if code == "writes_moved":  # which side refused, and who it said has the writes
                code += f" by {answer.headers.get('x-strangler-upstream')} for {body['extra']['owner']}"
            self._record(f"{answer.status_code} {code}".strip(), int(body["id"]) if answer.status_code == 201 else None)

    def _read(self, offset: int) -> None:
        n = offset
        with httpx.Client(base_url=self.stack.endpoints["proxy"], timeout=30) as client:
            while not self.stop.is_set() and n < 50_000:
                item = ITEMS[n % len(ITEMS)]
                n += 1
                try:
                    answer = self._get(client, RATE.format(id=item))
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.outcomes.unknown += 1
                        self.outcomes.errors.append(repr(exc))
                    continue
                self._record(f"GET {answer.status_code}")

    def _get(self, client: httpx.Client, path: str) -> httpx.Response:
        """A GET, sent again once if its connection closed before any answer
        (RFC 9112 9.3.1: a client may retry an idempotent request then, as
        browsers do); each such retry is counted."""
        try:
            return client.get(path)
        except httpx.RemoteProtocolError as exc:
            with self._lock:
                self.outcomes.retried.append(repr(exc))
            return client.get(path)

    def sales(self) -> int:
        with self._lock:
            return len(self.outcomes.sold)

    def wait_for_sales(self, more: int, what: str) -> None:
        target = self.sales() + more
        wait_until(lambda: self.sales() >= target, timeout=120, what=what, interval=0.1)


# -- checks -------------------------------------------------------------------


def pricing_has_every_sale(stack: RunningStack) -> bool:
    databases = stack.endpoints["databases"]
    return one(databases["pricing"], "SELECT count(*) FROM sales") == one(
        databases["legacy"], "SELECT count(*) FROM smp_sale"
    )


def per_item(dsn: str, sql: str) -> dict[int, tuple[int, ...]]:
    return {int(r[0]): tuple(int(v) for v in r[1:]) for r in rows(dsn, sql)}


def assert_every_sale_once_everywhere(stack: RunningStack, trade: Trade, outcomes: Outcomes) -> None:
    """Each acknowledged sale once in the monolith, the market's store and
    pricing (rows and candles); a sale whose answer was lost at most once,
    and the same everywhere."""
    databases = stack.endpoints["databases"]
    acknowledged = set(outcomes.sold)
    assert len(acknowledged) == len(outcomes.sold), "two answers carried one sale id"
    wait_in_sync(stack, "the market's store and the monolith's tables", timeout=120)
    wait_until(lambda: pricing_has_every_sale(stack), timeout=120, what="pricing to apply every sale", interval=0.25)
    buyer = trade.buyer.id
    legacy = {int(r[0]) for r in rows(databases["legacy"], "SELECT id FROM smp_sale WHERE byr_id = %s", buyer)}
    market = {int(r[0]) for r in rows(databases["market"], "SELECT sale_id FROM sales WHERE buyer_id = %s", buyer)}
    pricing = {
        int(r[0])
        for r in rows(databases["pricing"], "SELECT sale_id FROM sales WHERE sale_id = ANY(%s)", list(legacy | market))
    }
    assert acknowledged <= legacy, f"acknowledged sales missing in the monolith: {sorted(acknowledged - legacy)[:5]}"
    assert len(legacy - acknowledged) <= outcomes.unknown, "the monolith has sales no client asked for"
    assert market == legacy and pricing == legacy
    in_legacy = per_item(databases["legacy"], "SELECT itm_id, count(*), sum(qty), sum(tot_cp) FROM smp_sale GROUP BY 1")
    in_candles = per_item(
        databases["pricing"],
        "SELECT item_id, sum(trades), sum(volume), sum(value) FROM candles WHERE interval = '5m' GROUP BY 1",
    )
    assert in_candles == in_legacy, "a candle counted a sale twice or missed one"


def breaker_state(stack: RunningStack, service: str) -> str:
    with admin(stack) as client:
        return str(client.get("/_strangler/status").json()["breakers"][service])


def rate_routes(mode: str, **extra: Any) -> list[dict[str, Any]]:
    return [route(["GET"], RATE, mode, service="pricing", ignore=["$.as_of"], **extra)]


# -- scenarios ----------------------------------------------------------------


def test_a_service_that_stops_answering_costs_no_get_an_error(fault_stack: RunningStack) -> None:
    """pricing frozen (SIGSTOP: it accepts connections and never answers),
    then thawed: the breaker opens, GETs fall back to the monolith, the
    breaker closes again; no client sees an error."""
    stack = fault_stack
    set_table(stack, rate_routes("new", timeout=1.0), "resilience: rates from pricing, 1 s timeout")
    pid = stack.endpoints["processes"]["pricing"]
    with Stream(stack, None, writers=0, readers=3) as stream:
        wait_until(lambda: stream.outcomes.statuses["GET 200"] >= 30, timeout=60, what="reads through pricing")
        os.kill(pid, signal.SIGSTOP)
        try:
            wait_until(lambda: breaker_state(stack, "pricing") == "open", timeout=60, what="the breaker to open")
            during = stream.outcomes.statuses["GET 200"]
            wait_until(lambda: stream.outcomes.statuses["GET 200"] >= during + 30, timeout=60, what="reads from legacy")
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_until(lambda: breaker_state(stack, "pricing") == "closed", timeout=90, what="the breaker to close")
    set_table(stack, [], "resilience: back to legacy")
    print(f"dead upstream: {stream.outcomes.summary()}")
    assert stream.outcomes.failures() == {}, stream.outcomes.summary()
    with admin(stack) as client:
        metrics = client.get("/_strangler/metrics").text
    fallbacks = sum(
        float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith("strangler_fallbacks_total{")
    )
    assert fallbacks > 0


FLIPS: list[tuple[str, Callable[[], list[dict[str, Any]]]]] = [
    ("rates in shadow", lambda: rate_routes("shadow") + market_table("legacy")),
    ("rates in canary 50%, writes to the market", lambda: rate_routes("canary", weight=50) + market_table("new")),
    ("rates from pricing", lambda: rate_routes("new") + market_table("new")),
    ("writes back to the monolith", lambda: rate_routes("new") + market_table("legacy")),
    ("rates in canary 5%, writes to the market", lambda: rate_routes("canary", weight=5) + market_table("new")),
    ("everything back to legacy", list),
]


def test_a_flip_storm_under_reads_and_writes_fails_nothing_and_loses_nothing(fault_stack: RunningStack) -> None:
    """Reads and writes flipped between legacy, shadow, canary and new (the
    writes to the market and back twice) under steady traffic: every request
    answered, every sale once in the owning store and, by CDC or sync-back,
    in the other."""
    stack = fault_stack
    trade = open_trade(stack)
    before = world(stack.endpoints["databases"]["legacy"])
    with Stream(stack, trade, writers=2, readers=1) as stream:
        stream.wait_for_sales(20, "sales before the first flip")
        for reason, table in FLIPS:
            set_table(stack, table(), f"resilience: {reason}")
            stream.wait_for_sales(15, f"sales after {reason}")
    outcomes = stream.outcomes
    print(f"flip storm: {outcomes.summary()}")
    assert outcomes.failures() == {}, outcomes.statuses
    assert_every_sale_once_everywhere(stack, trade, outcomes)
    assert world(stack.endpoints["databases"]["legacy"]) == before


def proxy_workers(stack: RunningStack) -> list[int]:
    """The proxy supervisor's worker processes."""
    supervisor = stack.endpoints["processes"]["proxy"]
    return [int(pid) for pid in Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()]


def test_sigkill_of_every_part_mid_stream_loses_and_duplicates_nothing(fault_stack: RunningStack) -> None:
    """The relay, the ACL, sync-back, each service's API and projector and
    one proxy worker, SIGKILLed in a random order while sales flow: after the
    restarts every sale is in every store exactly once and gold is conserved.
    A sale whose answer was cut by the proxy worker's death counts as unknown
    (at most once)."""
    stack = fault_stack
    trade = open_trade(stack)
    before = world(stack.endpoints["databases"]["legacy"])
    parts = [
        "cdc-relay",
        "acl",
        "syncback",
        "pricing",
        "pricing-projector",
        "market",
        "market-projector",
        "proxy worker",
    ]
    seed = random.randrange(1 << 30)
    random.Random(seed).shuffle(parts)
    print(f"kill order (seed {seed}): {parts}")
    with Stream(stack, trade, writers=2, readers=1) as stream:
        for part in parts:
            stream.wait_for_sales(10, f"sales before killing {part}")
            if part == "proxy worker":
                victim = proxy_workers(stack)[0]
                os.kill(victim, signal.SIGKILL)
                wait_until(
                    lambda victim=victim: len(proxy_workers(stack)) == 2 and victim not in proxy_workers(stack),
                    timeout=30,
                    what="the proxy to restart its worker",
                )
                continue
            pid = stack.endpoints["processes"][part]
            os.kill(pid, signal.SIGKILL)
            wait_until(
                lambda part=part, pid=pid: stack.endpoints["processes"][part] != pid,
                timeout=30,
                what=f"strangler up to restart {part}",
            )
        stream.wait_for_sales(15, "sales after the last kill")
    outcomes = stream.outcomes
    print(f"crash points: {outcomes.summary()}")
    assert {k for k in outcomes.failures() if k != "connection errors"} == set(), outcomes.statuses
    assert_every_sale_once_everywhere(stack, trade, outcomes)
    assert world(stack.endpoints["databases"]["legacy"]) == before


def restarted(stack: RunningStack, part: str, old_pid: int) -> bool:
    """``strangler up`` gave ``part`` a new process (endpoints.json is rewritten then)."""
    return stack.endpoints["processes"].get(part) not in (None, old_pid)


def test_a_postgresql_restart_under_traffic_loses_nothing(fault_stack: RunningStack) -> None:
    """PostgreSQL (every database of the stack: the monolith's, the control
    database, the services') restarted (fast shutdown, then ``strangler up``
    starts it again) while sales and rate reads flow: the proxy keeps its
    last route table and goes on answering, the monolith, the relay, the
    services and sync-back reconnect, and every sale acknowledged lands once
    everywhere. The market owns the writes: its saga, the monolith's
    settlements and sync-back all cross the restart. A write answered 5xx
    while the database was down is counted as an outcome unknown to its
    client (at most once, like a cut connection)."""
    stack = fault_stack
    trade = open_trade(stack)
    before = world(stack.endpoints["databases"]["legacy"])
    table = rate_routes("new") + market_table("new")
    set_table(stack, table, "resilience: rates from pricing, writes to the market, then a database restart")
    with admin(stack) as client:
        version = client.get("/_strangler/routes").json()["version"]
    pids = dict(stack.endpoints["processes"])
    pid = pids["postgres"]
    with Stream(stack, trade, writers=2, readers=1) as stream:
        stream.wait_for_sales(15, "sales before the restart")
        os.kill(pid, signal.SIGINT)  # PostgreSQL's fast shutdown: what `pg_ctl restart -m fast` does first
        wait_until(lambda: restarted(stack, "postgres", pid), timeout=90, what="strangler up to restart PostgreSQL")
        with admin(stack) as client:
            routes = client.get("/_strangler/routes").json()
        assert routes["version"] == version and len(routes["routes"]) == len(table)
        stream.wait_for_sales(15, "sales after the restart")
    outcomes = stream.outcomes
    again = sorted(part for part, old in pids.items() if stack.endpoints["processes"].get(part) != old)
    print(f"postgresql restart: {outcomes.summary()}; parts restarted: {again}")
    refused = {k: v for k, v in outcomes.failures().items() if k != "connection errors"}
    assert all(k.startswith(("5", "GET 5")) for k in refused), outcomes.statuses
    outcomes.unknown += sum(v for k, v in refused.items() if k.startswith("5"))
    assert_every_sale_once_everywhere(stack, trade, outcomes)
    assert world(stack.endpoints["databases"]["legacy"]) == before
    set_table(stack, [], "resilience: back to legacy")


def topic_resets(stack: RunningStack, service: str) -> int:
    """Topics the service's projector found re-created by the broker and replayed."""
    ready = httpx.get(f"{stack.endpoints['services'][service]}/readyz", timeout=10).json()
    return int(ready.get("topic_resets", 0))


def test_broker_loss_mid_stream_is_re_snapshotted_and_every_consumer_converges(fault_stack: RunningStack) -> None:
    """The embedded broker (memory storage) SIGKILLed and started again
    empty while sales and reads flow: the relay notices its marker topic is
    gone and re-snapshots, the ACL re-translates, pricing's and the market's
    projectors find their topics re-created and replay them; every sale once
    everywhere, both parity checks pass, and no client sees an error (nothing
    a client calls needs the broker)."""
    stack = fault_stack
    trade = open_trade(stack)
    databases = stack.endpoints["databases"]
    before = world(databases["legacy"])
    set_table(stack, rate_routes("new") + market_table("legacy"), "resilience: reads from the services, broker loss")
    resets = {service: topic_resets(stack, service) for service in ("pricing", "market")}
    state = stack.state_dir / "cdc"
    snapshots = int((read_status(state) or {"relay": {"resnapshots": 0}})["relay"]["resnapshots"])
    pid = stack.endpoints["processes"]["kafka"]
    with Stream(stack, trade, writers=2, readers=1) as stream:
        stream.wait_for_sales(15, "sales before the broker's loss")
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: restarted(stack, "kafka", pid), timeout=60, what="strangler up to restart the broker")
        wait_until(
            lambda: int((read_status(state) or {"relay": {"resnapshots": 0}})["relay"]["resnapshots"]) > snapshots,
            timeout=120,
            what="the relay to re-snapshot into the new broker",
            interval=0.5,
        )
        stream.wait_for_sales(15, "sales after the broker's loss")
    outcomes = stream.outcomes
    print(f"broker loss: {outcomes.summary()}")
    assert outcomes.failures() == {}, outcomes.statuses
    assert_every_sale_once_everywhere(stack, trade, outcomes)
    for service in ("pricing", "market"):
        wait_until(lambda s=service: topic_resets(stack, s) > resets[s], timeout=60, what=f"{service} to replay")
    for spec, store in ((PRICING, databases["pricing"]), (MARKET, databases["market"])):
        report = wait_until(
            lambda spec=spec, store=store: (r := check_parity(spec, databases["legacy"], store)).in_parity and r,
            timeout=120,
            what=f"{spec.context} parity after the broker's loss",
            interval=1.0,
        )
        assert report.in_parity
    assert world(databases["legacy"]) == before
    set_table(stack, [], "resilience: back to legacy")
