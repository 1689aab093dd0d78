"""The write side moves: the market's routes flipped to the market service on
the real stack (``strangler up``: embedded PostgreSQL, broker, Debezium, ACL,
sync-back, pricing, market and the proxy).

Checked where a user would look: the proxy's answers, the monolith's
database and admin, pricing's read model, and by SQL that no gold and no item
is created or lost (wallets + fees; inventories + open listings). The stack
is the session's shared one; every test leaves the routes at ``legacy``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from market_stack_support import (
    Player,
    market_table,
    one,
    owner,
    owner_row,
    post_until_accepted,
    register,
    route,
    rows,
    via_proxy,
    wait_in_sync,
    world,
)
from stack_support import RunningStack, admin, cli, set_table

from local_stack.net import free_port
from local_stack.processes import http_ok, wait_until
from new_services.platform.identity import HEADER, Identity, KeyFile, sign

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def market_stack(stack: RunningStack) -> Iterator[RunningStack]:
    """The shared stack once the market has built its store from the seeded monolith."""
    wait_in_sync(stack, "the market to build its store from the monolith", timeout=240)
    yield stack
    set_table(stack, [], "e2e: back to legacy")


@pytest.fixture
def market_owns_writes(market_stack: RunningStack) -> Iterator[RunningStack]:
    set_table(market_stack, market_table("new"), "e2e: market takes the writes")
    assert owner(market_stack) == "market"
    yield market_stack
    set_table(market_stack, [], "e2e: back to legacy")
    assert owner(market_stack) == "legacy"


def open_listing(stack: RunningStack, *, at_least: int = 1, not_seller: int | None = None) -> tuple[int, int, int, int]:
    """(listing, item, seller, unit price) of an open listing with ``at_least`` left."""
    listing, item, seller, price = rows(
        stack.endpoints["databases"]["market"],
        "SELECT l.listing_id, l.item_id, l.seller_id, l.unit_price FROM listings l"
        " JOIN players p ON p.player_id = l.seller_id JOIN items i ON i.item_id = l.item_id"
        " WHERE l.status = 'O' AND l.quantity_remaining >= %s AND p.status = 'A' AND i.listable"
        " AND l.seller_id <> %s ORDER BY l.unit_price, l.listing_id LIMIT 1",
        at_least,
        not_seller or 0,
    )[0]
    return int(listing), int(item), int(seller), int(price)


def shadow_outcomes(stack: RunningStack) -> Counter[str]:
    """``strangler_shadow_total`` of the market's two read routes, by outcome."""
    text = httpx.get(f"{stack.endpoints['proxy_admin']}/_strangler/metrics", timeout=10).text
    outcomes: Counter[str] = Counter()
    for line in text.splitlines():
        if line.startswith("strangler_shadow_total{") and ("/api/listings/" in line or "/api/sales/" in line):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            outcomes[outcome] += int(float(line.rsplit(" ", 1)[1]))
    return outcomes


def latest_diffs(stack: RunningStack) -> list[dict[str, Any]]:
    """The proxy's latest recorded mismatches, so a failure says which fields differed."""
    with admin(stack) as client:
        return list(client.get("/_strangler/diffs", params={"limit": 10}).json()["mismatches"])


#: What a client reads: pages, filters, bad filters, negotiation.
READ_QUERIES = [
    "/api/listings/",
    "/api/listings/?limit=50&offset=20",
    "/api/listings/?status=O&limit=30",
    "/api/listings/?status=F",
    "/api/listings/?status=C&limit=5",
    "/api/listings/?item=3",
    "/api/listings/?seller=4&status=O",
    "/api/listings/?status=Z",
    "/api/listings/?item=abc",
    "/api/listings/?limit=-1",
    "/api/listings/?format=json",
    "/api/sales/",
    "/api/sales/?limit=40&offset=100",
    "/api/sales/?item=5",
    "/api/sales/?buyer=6",
    "/api/sales/?seller=7&item=8",
    "/api/sales/?listing=9",
    "/api/sales/?listing=0",
    "/api/sales/?offset=999999",
]


def test_shadow_of_the_market_reads_finds_no_mismatch(market_stack: RunningStack) -> None:
    stack = market_stack
    wait_in_sync(stack, "a quiet market before the shadow")
    before = shadow_outcomes(stack)
    set_table(
        stack,
        [route(["GET"], "/api/listings/", "shadow"), route(["GET"], "/api/sales/", "shadow")],
        "e2e: shadow the market's reads",
    )
    with httpx.Client(base_url=stack.endpoints["proxy"], timeout=15) as client:
        answers = [client.get(path) for path in READ_QUERIES]
        answers += [client.get(f"/api/listings/?item={item}") for item in range(1, 41)]
        answers += [client.get(f"/api/sales/?seller={seller}&limit=10") for seller in range(1, 41)]
    assert {a.status_code for a in answers} >= {200, 400}
    assert all(a.headers["x-strangler-upstream"] == "legacy" for a in answers)

    def compared() -> Counter[str]:
        now = shadow_outcomes(stack)
        now.subtract(before)
        return now if sum(now.values()) >= len(answers) else Counter()

    outcomes = wait_until(compared, timeout=60, what="every shadow comparison", interval=0.2)
    assert outcomes["mismatch"] == 0 and outcomes["error"] == 0, f"{outcomes}: {json.dumps(latest_diffs(stack))}"
    assert outcomes["match"] == len(answers), outcomes
    set_table(stack, [], "e2e: back to legacy")


def test_a_buy_with_a_legacy_token_reaches_the_monolith_its_admin_and_pricing(market_owns_writes: RunningStack) -> None:
    stack = market_owns_writes
    databases = stack.endpoints["databases"]
    buyer = register(stack, "buyer", gold=1_000)
    listing, item, _seller, _price = open_listing(stack, at_least=1, not_seller=buyer.id)
    before = world(databases["legacy"])

    bought = post_until_accepted(stack, "/api/sales/", buyer, {"listing": listing, "quantity": 1})
    assert bought.status_code == 201, bought.text
    assert bought.headers["x-strangler-upstream"] == "market"
    sale = bought.json()
    assert sale["buyer_id"] == buyer.id and sale["listing_id"] == listing and sale["item_id"] == item

    # In the monolith's table (sync-back), counted once by pricing, within seconds.
    wait_until(
        lambda: (
            rows(databases["legacy"], "SELECT byr_id, qty, fee_cp FROM smp_sale WHERE id = %s", sale["id"])
            == [(buyer.id, 1, sale["fee"]["copper"])]
        ),
        timeout=5,
        what="the sale in the monolith's smp_sale",
        interval=0.05,
    )
    wait_until(
        lambda: one(databases["pricing"], "SELECT count(*) FROM sales WHERE sale_id = %s", sale["id"]) == 1,
        timeout=5,
        what="the sale in pricing's read model",
        interval=0.05,
    )
    rate = httpx.get(f"{stack.endpoints['services']['pricing']}/api/items/{item}/rate/", timeout=10).json()
    legacy_rate = httpx.get(f"{stack.endpoints['legacy']}/api/items/{item}/rate/", timeout=10).json()
    assert rate["volume_24h"] == legacy_rate["volume_24h"]
    assert rate["last_sold_at"] is not None

    # The monolith's admin shows it; the market's rows are read-only there now.
    admin_page = admin_client(stack).get(f"/admin/market/sale/{sale['id']}/change/")
    assert admin_page.status_code == 200 and str(sale["id"]) in admin_page.text
    assert "read-only here" in admin_page.text.lower()

    # The monolith refuses writes it no longer owns, whoever asks it directly.
    direct = httpx.post(
        f"{stack.endpoints['legacy']}/api/sales/",
        json={"listing": listing, "quantity": 1},
        headers={"authorization": f"Token {buyer.token}"},
        timeout=15,
    )
    assert direct.status_code == 409 and direct.json()["code"] == "writes_moved"

    wait_in_sync(stack, "sync-back to catch up")
    assert world(databases["legacy"]) == before


def admin_client(stack: RunningStack) -> httpx.Client:
    client = httpx.Client(base_url=stack.endpoints["legacy"], timeout=15, follow_redirects=True)
    login = client.get("/admin/login/")
    password = (stack.state_dir / "admin-password").read_text().strip()
    response = client.post(
        "/admin/login/?next=/admin/",
        data={"username": "admin", "password": password, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
        headers={"referer": str(login.url)},
    )
    assert response.status_code == 200 and "log out" in response.text.lower(), response.text[:300]
    return client


def test_a_forged_identity_header_never_passes_the_proxy(market_owns_writes: RunningStack) -> None:
    stack = market_owns_writes
    buyer = register(stack, "forger", gold=10)
    listing, *_ = open_listing(stack, not_seller=buyer.id)
    keys = KeyFile(stack.state_dir / "identity-keys.json").keyring()
    forged = sign(Identity(auth="token", user_id=1, username="admin", player_id=buyer.id, player_status="A"), keys)
    # Without a token, the client's own (even validly signed) header is dropped: anonymous.
    answer = httpx.post(
        f"{stack.endpoints['proxy']}/api/sales/",
        json={"listing": listing, "quantity": 1},
        headers={HEADER: forged},
        timeout=15,
    )
    assert answer.status_code == 401
    # Straight to the service, an altered header is refused.
    altered = forged[:-4] + ("AAAA" if not forged.endswith("AAAA") else "BBBB")
    direct = httpx.post(
        f"{stack.endpoints['services']['market']}/api/sales/",
        json={"listing": listing, "quantity": 1},
        headers={HEADER: altered},
        timeout=15,
    )
    assert direct.status_code == 401


# -- crashes between saga steps --------------------------------------------------


@dataclass
class MarketProcess:
    """A second ``serve`` of the market on the stack's own database, with
    ``STRANGLER_MARKET_CRASH_AFTER`` set: it SIGKILLs itself right after the
    named saga state is committed."""

    stack: RunningStack
    crash_after: str | None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        endpoints, state = self.stack.endpoints, self.stack.state_dir
        env = {
            **self.stack.env,
            "PYTHONPATH": str(ROOT),
            "STRANGLER_MARKET_DATABASE_URL": endpoints["databases"]["market"],
            "STRANGLER_MARKET_PORT": str(self.port),
            "STRANGLER_MARKET_HOST": "127.0.0.1",
            "KAFKA_BOOTSTRAP_SERVERS": endpoints["kafka"],
            "STRANGLER_ADMIN_TOKEN": (state / "admin-token").read_text().strip(),
            "STRANGLER_LEGACY_URL": endpoints["legacy"],
            "STRANGLER_INTERNAL_TOKEN": (state / "internal-token").read_text().strip(),
            "STRANGLER_IDENTITY_KEYS": str(state / "identity-keys.json"),
            "STRANGLER_CONTROL_DATABASE_URL": endpoints["databases"]["control"],
            "STRANGLER_MARKET_RELAY": "off",  # the stack's market relays the outbox
        }
        if self.crash_after:
            env["STRANGLER_MARKET_CRASH_AFTER"] = self.crash_after
        return env

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MarketProcess:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "new_services.market", "serve"],
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(http_ok(f"{self.url}/healthz"), timeout=60, what="the second market serve", interval=0.1)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


def identity_of(stack: RunningStack, player: Player) -> str:
    """The signed header the proxy would forward for ``player``'s token."""
    answer = httpx.get(
        f"{stack.endpoints['legacy']}/_internal/identity/",
        headers={
            "authorization": f"Token {player.token}",
            "x-strangler-service-token": (stack.state_dir / "internal-token").read_text().strip(),
        },
        timeout=15,
    ).json()
    keys = KeyFile(stack.state_dir / "identity-keys.json").keyring()
    return sign(Identity(auth="token", **answer), keys)


#: (saga state to crash after, the operation, the state it must end in)
CRASH_POINTS = [
    ("reserved", "buy", "done"),
    ("settled", "buy", "done"),
    ("compensating", "overspend", "compensated"),
    ("escrowing", "list", "done"),
    ("cancelled", "cancel", "done"),
]


@pytest.mark.parametrize(("crash_after", "operation", "final"), CRASH_POINTS)
def test_sigkill_between_saga_steps_completes_or_compensates_on_restart(
    market_owns_writes: RunningStack, crash_after: str, operation: str, final: str
) -> None:
    stack = market_owns_writes
    databases = stack.endpoints["databases"]
    wait_in_sync(stack, "a quiet market before the crash")
    item = int(one(databases["market"], "SELECT item_id FROM items WHERE listable ORDER BY item_id LIMIT 1"))
    player = register(stack, "crash", gold=0 if operation == "overspend" else 1_000, items={item: 5})
    listing_to_cancel = None
    if operation == "cancel":
        created = post_until_accepted(
            stack, "/api/listings/", player, {"item": item, "quantity": 2, "unit_price_copper": 1_000}
        )
        assert created.status_code == 201, created.text
        listing_to_cancel = created.json()["id"]
        wait_in_sync(stack, "the new listing synced back")
    before = world(databases["legacy"])
    sagas_before = int(one(databases["market"], "SELECT count(*) FROM sagas"))

    crashing = MarketProcess(stack, crash_after).start()
    headers = {HEADER: identity_of(stack, player)}
    listing, *_ = open_listing(stack, not_seller=player.id)
    request: tuple[str, dict[str, Any]] = {
        "buy": ("/api/sales/", {"listing": listing, "quantity": 1}),
        "overspend": ("/api/sales/", {"listing": listing, "quantity": 1}),
        "list": ("/api/listings/", {"item": item, "quantity": 3, "unit_price_copper": 500}),
        "cancel": (f"/api/listings/{listing_to_cancel}/cancel/", {}),
    }[operation]
    try:
        with pytest.raises(httpx.TransportError):  # killed mid-request: no answer at all
            httpx.post(f"{crashing.url}{request[0]}", json=request[1], headers=headers, timeout=30)
        assert crashing.process is not None
        assert crashing.process.wait(timeout=30) == -signal.SIGKILL
    finally:
        crashing.stop()
    [(state,)] = rows(databases["market"], "SELECT state FROM sagas ORDER BY created_at DESC LIMIT 1")
    assert state == crash_after

    restarted = MarketProcess(stack, None).start()  # resumes unfinished sagas at start-up
    try:
        wait_until(
            lambda: one(databases["market"], "SELECT state FROM sagas ORDER BY created_at DESC LIMIT 1") == final,
            timeout=30,
            what=f"the saga resumed to {final}",
            interval=0.1,
        )
    finally:
        restarted.stop()
    assert int(one(databases["market"], "SELECT count(*) FROM sagas")) == sagas_before + 1
    wait_in_sync(stack, "sync-back after the resumed saga")
    assert world(databases["legacy"]) == before


# -- flipping back under traffic ---------------------------------------------------


def test_flip_back_to_legacy_under_traffic_loses_nothing(market_owns_writes: RunningStack) -> None:
    stack = market_owns_writes
    databases = stack.endpoints["databases"]
    buyers = [register(stack, f"rush{i}", gold=100_000) for i in range(3)]
    wait_in_sync(stack, "a quiet market before the traffic")
    before = world(databases["legacy"])
    listings = [
        int(r[0])
        for r in rows(
            databases["market"],
            "SELECT l.listing_id FROM listings l JOIN players p ON p.player_id = l.seller_id"
            " WHERE l.status = 'O' AND l.quantity_remaining >= 5 AND p.status = 'A' ORDER BY l.listing_id LIMIT 40",
        )
    ]
    assert len(listings) >= 10
    answers: list[tuple[int, dict[str, Any]]] = []
    stop = threading.Event()

    def buy(buyer: Player, offset: int) -> None:
        n = offset
        while not stop.is_set() and n < 10_000:
            listing = listings[n % len(listings)]
            n += len(buyers)
            try:
                response = via_proxy(stack, "POST", "/api/sales/", buyer, json={"listing": listing, "quantity": 1})
            except httpx.HTTPError as exc:  # recorded, never lost with the thread
                answers.append((0, {"error": repr(exc)}))
                continue
            try:
                body = response.json()
            except ValueError:
                body = {"not_json": response.text[:300], "upstream": response.headers.get("x-strangler-upstream")}
            answers.append((response.status_code, body))

    threads = [threading.Thread(target=buy, args=(b, i)) for i, b in enumerate(buyers)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: sum(1 for s, _ in answers if s == 201) >= 15, timeout=120, what="sales on the market")
        set_table(stack, market_table("legacy"), "e2e: writes back to the monolith under traffic")
        flipped_at = len(answers)
        wait_until(
            lambda: sum(1 for s, _ in answers[flipped_at:] if s == 201) >= 15,
            timeout=120,
            what="sales on the monolith",
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert owner(stack) == "legacy"
    # The market declared the end of its events (the handback), and the monolith wrote after it.
    wait_until(lambda: owner_row(stack).get("handover_offsets") is not None, timeout=30, what="the handback")
    server_errors = [(s, b) for s, b in answers if s >= 500 or s == 0 or "not_json" in b]
    assert not server_errors, server_errors[:3]
    refused = [b.get("code") for s, b in answers if s not in (201,)]
    assert set(refused) <= {"writes_moved", "listing_closed", "quantity_exceeds_remaining", "insufficient_funds"}, (
        refused
    )
    sold = sorted(b["id"] for s, b in answers if s == 201)
    assert len(sold) == len(set(sold))
    # Every sale in both stores, nothing else created, nothing lost.
    wait_in_sync(stack, "both stores to converge after the flip back", timeout=90)
    in_legacy = {int(r[0]) for r in rows(databases["legacy"], "SELECT id FROM smp_sale WHERE id = ANY(%s)", sold)}
    assert in_legacy == set(sold)
    assert world(databases["legacy"]) == before


def test_the_readmes_market_commands_work_as_written(market_stack: RunningStack) -> None:
    """The README's market block, line by line, as a user types it; the
    writes end with the monolith, as its last line says."""
    import shlex

    readme = (ROOT / "README.md").read_text().split("**market** owns", 1)[1]
    block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [shlex.split(line.split("#", 1)[0]) for line in block.splitlines() if line.startswith("strangler ")]
    assert any(words[:3] == ["strangler", "routes", "set-writes"] for words in commands)
    set_table(market_stack, [], "e2e: README from legacy")
    for words in commands:
        cli(market_stack, *words[1:])
        if words[2:3] == ["set-writes"]:
            assert owner(market_stack) == ("market" if "new" in words else "legacy")
    set_table(market_stack, [], "e2e: back to legacy")
