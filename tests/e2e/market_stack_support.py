"""The market's e2e helpers: the route table of its migration, the owner row,
the stores' checks (in sync, gold and units conserved), players with legacy
tokens, and requests through the proxy. Shared by the market's e2e tests and
the resilience suite (tests/resilience/)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
from stack_support import RunningStack, admin

from local_stack.processes import NotReady, wait_until

GOLD = 10_000  # copper in one gold


def route(methods: list[str], path: str, mode: str, **extra: Any) -> dict[str, Any]:
    return {"methods": methods, "path": path, "mode": mode, "service": "market", **extra}


def market_table(writes: str) -> list[dict[str, Any]]:
    """The market's reads served by it, its writes by ``writes`` (legacy or new)."""
    return [
        route(["GET"], "/api/listings/", "new"),
        route(["GET"], "/api/sales/", "new"),
        route(["POST"], "/api/listings/", writes, writes="market"),
        route(["POST"], "/api/listings/{id}/cancel/", writes, writes="market"),
        route(["POST"], "/api/sales/", writes, writes="market"),
    ]


def owner_row(stack: RunningStack) -> dict[str, Any]:
    """The market's row of ``/_strangler/owners`` (no row: legacy)."""
    with admin(stack) as client:
        owners = client.get("/_strangler/owners").json()["owners"]
    return next((row for row in owners if row["context"] == "market"), {"owner": "legacy"})


def owner(stack: RunningStack) -> str:
    return str(owner_row(stack)["owner"])


def rows(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def one(dsn: str, sql: str, *params: Any) -> Any:
    return rows(dsn, sql, *params)[0][0]


@dataclass(frozen=True)
class World:
    """What must never change: all gold (wallets + fees) and, per item, all
    units (inventories + what open listings still hold)."""

    gold: int
    items: dict[int, int]


def world(legacy_dsn: str) -> World:
    gold = one(
        legacy_dsn,
        "SELECT (SELECT coalesce(sum(bal_cp), 0) FROM smp_wlt) + (SELECT coalesce(sum(fee_cp), 0) FROM smp_sale)",
    )
    items = rows(
        legacy_dsn,
        "SELECT itm_id, sum(q)::bigint FROM (SELECT itm_id, qty AS q FROM smp_inv"
        " UNION ALL SELECT itm_id, qty_rem FROM smp_lst WHERE sts = 'O') units GROUP BY itm_id",
    )
    return World(gold=int(gold), items={int(item): int(units) for item, units in items})


def in_sync(stack: RunningStack) -> bool:
    """The monolith's tables equal the market's store (sync-back and CDC
    caught up) and no saga is in flight."""
    databases = stack.endpoints["databases"]
    if one(databases["market"], "SELECT count(*) FROM sagas WHERE state NOT IN ('done', 'compensated', 'refused')"):
        return False
    ours = rows(databases["market"], "SELECT listing_id, quantity_remaining, status FROM listings ORDER BY 1")
    theirs = rows(databases["legacy"], "SELECT id, qty_rem, sts FROM smp_lst ORDER BY 1")
    if ours != theirs:
        return False
    return rows(databases["market"], "SELECT sale_id, quantity, fee FROM sales ORDER BY 1") == rows(
        databases["legacy"], "SELECT id, qty, fee_cp FROM smp_sale ORDER BY 1"
    )


def wait_in_sync(stack: RunningStack, what: str, timeout: float = 60) -> None:
    try:
        wait_until(lambda: in_sync(stack), timeout=timeout, what=what, interval=0.2)
    except NotReady as exc:
        raise AssertionError(f"{exc}: {out_of_sync(stack)}") from None


def out_of_sync(stack: RunningStack) -> dict[str, Any]:
    """What still differs between the two stores, for a failure message."""
    databases = stack.endpoints["databases"]
    ours = set(rows(databases["market"], "SELECT listing_id, quantity_remaining, status FROM listings"))
    theirs = set(rows(databases["legacy"], "SELECT id, qty_rem, sts FROM smp_lst"))
    our_sales = set(rows(databases["market"], "SELECT sale_id, quantity, fee FROM sales"))
    their_sales = set(rows(databases["legacy"], "SELECT id, qty, fee_cp FROM smp_sale"))
    return {
        "sagas_in_flight": rows(
            databases["market"], "SELECT kind, state FROM sagas WHERE state NOT IN ('done', 'compensated', 'refused')"
        ),
        "listings_only_in_market": sorted(ours - theirs)[:5],
        "listings_only_in_legacy": sorted(theirs - ours)[:5],
        "sales_only_in_market": len(our_sales - their_sales),
        "sales_only_in_legacy": len(their_sales - our_sales),
        "projector": httpx.get(f"{stack.endpoints['services']['market']}/readyz", timeout=10).json(),
    }


@dataclass(frozen=True)
class Player:
    id: int
    token: str
    name: str


def register(stack: RunningStack, name: str, *, gold: int = 0, items: dict[int, int] | None = None) -> Player:
    """A player registered through the proxy (so it has a legacy token),
    with exactly ``gold`` and the ``items`` in the monolith's tables (players
    stay there)."""
    suffix = os.urandom(3).hex()
    response = httpx.post(
        f"{stack.endpoints['proxy']}/api/players/",
        json={"name": f"{name}{suffix}", "email": "", "password": "e2e-password-1"},
        timeout=15,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    player = Player(id=int(body["id"]), token=body["token"], name=body["name"])
    legacy = stack.endpoints["databases"]["legacy"]
    with psycopg.connect(legacy) as conn:
        conn.execute("UPDATE smp_wlt SET bal_cp = %s WHERE plyr_id = %s", (gold * GOLD, player.id))
        for item, quantity in (items or {}).items():
            conn.execute(
                "INSERT INTO smp_inv (plyr_id, itm_id, qty) VALUES (%s, %s, %s)"
                " ON CONFLICT (plyr_id, itm_id) DO UPDATE SET qty = smp_inv.qty + EXCLUDED.qty",
                (player.id, item, quantity),
            )
    # The market's rules need the player: wait until its projector has it.
    wait_until(
        lambda: one(
            stack.endpoints["databases"]["market"], "SELECT count(*) FROM players WHERE player_id = %s", player.id
        ),
        timeout=30,
        what=f"player {player.id} in the market's store",
        interval=0.1,
    )
    return player


def via_proxy(stack: RunningStack, method: str, path: str, player: Player, **kwargs: Any) -> httpx.Response:
    return httpx.request(
        method,
        f"{stack.endpoints['proxy']}{path}",
        headers={"authorization": f"Token {player.token}"},
        timeout=30,
        **kwargs,
    )


def post_until_accepted(stack: RunningStack, path: str, player: Player, body: dict[str, Any]) -> httpx.Response:
    """POST through the proxy; a 503 right after the flip (the market waits
    for its projector to catch up first) is retried, nothing else is."""
    answers: list[httpx.Response] = []

    def accepted() -> bool:
        answers.append(via_proxy(stack, "POST", path, player, json=body))
        return answers[-1].status_code != 503

    wait_until(accepted, timeout=30, what=f"POST {path} past the catch-up", interval=0.2)
    return answers[-1]
