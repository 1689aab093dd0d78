"""Concurrent calls of the ``/_internal/`` API: one key applies once, an
apply racing its reverse leaves no trace, crossing settlements neither
deadlock nor lose gold.

Real threads, each with its own client and database connection, released
together by a barrier; ``transaction=True`` so the rows are committed and
visible to every connection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient
from strangler_support import INTERNAL_TOKEN

from legacy_monolith.catalog.models import Item
from legacy_monolith.players.models import InventorySlot, Player

pytestmark = pytest.mark.django_db(transaction=True)

REPLAY = "X-Strangler-Idempotent-Replay"


def scalar(sql: str, params: list[Any] | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


def total_gold() -> int:
    return scalar("SELECT sum(bal_cp) FROM smp_wlt")


def total_items(item: Item) -> int:
    return scalar("SELECT coalesce(sum(qty), 0) FROM smp_inv WHERE itm_id = %s", [item.pk])


def together(calls: list[tuple[str, dict[str, Any] | None]]) -> list[Any]:
    """POST every ``(url, body)`` at once, each from its own thread, client
    and connection; the responses in call order."""
    barrier = threading.Barrier(len(calls))
    responses: list[Any] = [None] * len(calls)

    def call(index: int, url: str, body: dict[str, Any] | None) -> None:
        client = APIClient()
        client.credentials(HTTP_X_STRANGLER_SERVICE_TOKEN=INTERNAL_TOKEN)
        try:
            barrier.wait(timeout=10)
            responses[index] = client.post(url, body, format="json")
        finally:
            connection.close()

    threads = [threading.Thread(target=call, args=(i, url, body)) for i, (url, body) in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(r is not None for r in responses), "a call did not finish"
    return responses


@pytest.fixture
def parties(settings: Any, make_player: Callable[..., Player], make_item: Callable[..., Item]) -> dict[str, Any]:
    settings.STRANGLER_INTERNAL_TOKEN = INTERNAL_TOKEN
    buyer, seller = make_player(balance=100_000), make_player(balance=100_000)
    item = make_item()
    InventorySlot.objects.create(player=seller, item=item, quantity=10)
    return {"buyer": buyer, "seller": seller, "item": item}


def settlement(parties: dict[str, Any], key: str, *, buyer: str = "buyer", seller: str = "seller") -> dict[str, Any]:
    return {
        "key": key,
        "buyer_id": parties[buyer].pk,
        "seller_id": parties[seller].pk,
        "item_id": parties["item"].pk,
        "quantity": 2,
        "total_copper": 10_000,
    }


def test_concurrent_calls_with_one_key_settle_once(parties: dict[str, Any]) -> None:
    gold, items = total_gold(), total_items(parties["item"])
    responses = together([("/_internal/settlements/", settlement(parties, "race-1:settle"))] * 6)
    assert [r.status_code for r in responses] == [200] * 6
    assert all(r.json() == responses[0].json() for r in responses)  # equal JSON (jsonb keeps no key order)
    assert sorted(r.has_header(REPLAY) for r in responses) == [False] + [True] * 5
    assert total_gold() == gold - 500  # one fee: applied once
    assert total_items(parties["item"]) == items + 2
    assert scalar("SELECT count(*) FROM strangler_internal_op WHERE key = 'race-1:settle'") == 1


def test_concurrent_escrow_takes_with_one_key_take_once(parties: dict[str, Any]) -> None:
    body = {
        "key": "race-2:escrow",
        "player_id": parties["seller"].pk,
        "item_id": parties["item"].pk,
        "quantity": 3,
        "direction": "take",
    }
    responses = together([("/_internal/escrow/", body)] * 5)
    assert [r.status_code for r in responses] == [200] * 5
    assert sum(not r.has_header(REPLAY) for r in responses) == 1
    assert total_items(parties["item"]) == 7


@pytest.mark.parametrize("round_", range(4))
def test_an_apply_racing_its_reverse_leaves_no_trace(parties: dict[str, Any], round_: int) -> None:
    """Either the apply wins and the reverse undoes it, or the reverse wins,
    tombstones the key and the apply is refused; never gold moved for good."""
    gold, items = total_gold(), total_items(parties["item"])
    key = f"race-3-{round_}:settle"
    applied, reversed_ = together(
        [("/_internal/settlements/", settlement(parties, key)), (f"/_internal/settlements/{key}/reverse/", None)]
    )
    assert reversed_.status_code == 200 and reversed_.json()["status"] == "reversed"
    if applied.status_code == 200:
        assert reversed_.json()["undone"] is True
    else:
        assert (applied.status_code, applied.json()["code"]) == (409, "settlement_reversed")
        assert reversed_.json()["undone"] is False
    assert (total_gold(), total_items(parties["item"])) == (gold, items)
    assert scalar("SELECT state FROM strangler_internal_op WHERE key = %s", [key]) == "reversed"


def test_crossing_settlements_neither_deadlock_nor_lose_gold(parties: dict[str, Any]) -> None:
    """A buys from B while B buys from A, several times at once: wallets are
    locked in player-id order, so all succeed and only fees leave."""
    gold = total_gold()
    calls = [
        ("/_internal/settlements/", settlement(parties, f"cross-{i}:settle", buyer=a, seller=b))
        for i, (a, b) in enumerate([("buyer", "seller"), ("seller", "buyer")] * 3)
    ]
    responses = together(calls)
    assert [r.status_code for r in responses] == [200] * 6
    assert total_gold() == gold - 6 * 500
    assert (
        scalar("SELECT bal_cp FROM smp_wlt WHERE plyr_id = %s", [parties["buyer"].pk])
        == 100_000 - 3 * 10_000 + 3 * 9_500
    )
