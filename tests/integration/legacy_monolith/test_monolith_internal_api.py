"""The ``/_internal/`` API of docs/market-write-side.md on real PostgreSQL:
service token, identity, settlements (apply, refuse, replay, reverse,
tombstone), escrow, and gold/item conservation checked by SQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.test import APIClient
from strangler_support import INTERNAL_TOKEN

from legacy_monolith.catalog.models import Item
from legacy_monolith.players.models import InventorySlot, Player

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("get", "/_internal/identity/"),
    ("post", "/_internal/settlements/"),
    ("post", "/_internal/settlements/some-saga:settle/reverse/"),
    ("post", "/_internal/escrow/"),
]
REPLAY = "X-Strangler-Idempotent-Replay"


def scalar(sql: str, params: list[Any] | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


def balance(player: Player) -> int:
    return scalar("SELECT bal_cp FROM smp_wlt WHERE plyr_id = %s", [player.pk])


def held(player: Player, item: Item) -> int:
    return scalar("SELECT coalesce(sum(qty), 0) FROM smp_inv WHERE plyr_id = %s AND itm_id = %s", [player.pk, item.pk])


def total_gold() -> int:
    return scalar("SELECT sum(bal_cp) FROM smp_wlt")


def total_items(item: Item) -> int:
    return scalar("SELECT coalesce(sum(qty), 0) FROM smp_inv WHERE itm_id = %s", [item.pk])


def op_state(key: str) -> str | None:
    return scalar("SELECT max(state) FROM strangler_internal_op WHERE key = %s", [key])


@pytest.fixture
def parties(make_player: Callable[..., Player], make_item: Callable[..., Item]) -> dict[str, Any]:
    buyer, seller = make_player(balance=50_000), make_player(balance=1_000)
    item = make_item()
    InventorySlot.objects.create(player=seller, item=item, quantity=10)
    return {"buyer": buyer, "seller": seller, "item": item}


def settle(client: APIClient, parties: dict[str, Any], key: str, **overrides: Any) -> Any:
    body = {
        "key": key,
        "buyer_id": parties["buyer"].pk,
        "seller_id": parties["seller"].pk,
        "item_id": parties["item"].pk,
        "quantity": 3,
        "total_copper": 12_345,
        **overrides,
    }
    return client.post("/_internal/settlements/", body, format="json")


def escrow(client: APIClient, player: Player, item: Item, key: str, direction: str, quantity: int = 4) -> Any:
    body = {"key": key, "player_id": player.pk, "item_id": item.pk, "quantity": quantity, "direction": direction}
    return client.post("/_internal/escrow/", body, format="json")


# -- service token -------------------------------------------------------------


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
@pytest.mark.parametrize("sent", [None, "wrong-token", INTERNAL_TOKEN[:-1], INTERNAL_TOKEN + "x"])
def test_every_internal_call_needs_the_service_token(
    settings: Any, parties: dict[str, Any], method: str, url: str, sent: str | None
) -> None:
    settings.STRANGLER_INTERNAL_TOKEN = INTERNAL_TOKEN
    client = APIClient()
    if sent is not None:
        client.credentials(HTTP_X_STRANGLER_SERVICE_TOKEN=sent)
    before = (total_gold(), total_items(parties["item"]))
    response = getattr(client, method)(url, {"key": "k", "quantity": 1}, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "Missing or invalid X-Strangler-Service-Token."}
    assert response["WWW-Authenticate"]
    assert (total_gold(), total_items(parties["item"])) == before


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_no_token_configured_closes_the_internal_api(settings: Any, method: str, url: str) -> None:
    """Unset ``STRANGLER_INTERNAL_TOKEN``: 401 whatever the caller sends,
    an empty header included."""
    settings.STRANGLER_INTERNAL_TOKEN = ""
    for sent in ["", "anything"]:
        client = APIClient()
        client.credentials(HTTP_X_STRANGLER_SERVICE_TOKEN=sent)
        assert getattr(client, method)(url, {}, format="json").status_code == 401


def test_internal_routes_are_not_in_the_public_schema(api: APIClient) -> None:
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "/api/listings/" in schema["paths"]
    assert not [path for path in schema["paths"] if "internal" in path]
    assert "settlement_reversed" not in str(schema) and "idempotency_key_reused" not in str(schema)


# -- identity ----------------------------------------------------------------


def test_identity_resolves_a_player_token(internal_api: APIClient, make_player: Callable[..., Player]) -> None:
    player = make_player("Tokenia", status="B")
    response = internal_api.get("/_internal/identity/", HTTP_AUTHORIZATION=f"Token {player.token}")
    assert response.status_code == 200
    assert response.json() == {
        "user_id": player.user_id,
        "username": "Tokenia",
        "player_id": player.pk,
        "player_status": "B",
    }


def test_identity_of_a_user_without_player(internal_api: APIClient) -> None:
    from rest_framework.authtoken.models import Token

    staff = get_user_model().objects.create_user(username="staffer", password="long enough pw")
    token = Token.objects.create(user=staff)
    response = internal_api.get("/_internal/identity/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    assert response.json() == {"user_id": staff.pk, "username": "staffer", "player_id": None, "player_status": None}


def test_identity_refuses_an_invalid_or_missing_user_token(internal_api: APIClient) -> None:
    invalid = internal_api.get("/_internal/identity/", HTTP_AUTHORIZATION="Token not-a-real-token")
    assert invalid.status_code == 401
    assert invalid.json() == {"detail": "Invalid token."}
    assert internal_api.get("/_internal/identity/").status_code == 401


# -- settlements ---------------------------------------------------------------


def test_a_settlement_moves_gold_and_items_once(internal_api: APIClient, parties: dict[str, Any]) -> None:
    buyer, seller, item = parties["buyer"], parties["seller"], parties["item"]
    gold, items = total_gold(), total_items(item)

    first = settle(internal_api, parties, "saga-1:settle")
    assert first.status_code == 200
    assert first.json() == {
        "key": "saga-1:settle",
        "fee_copper": 617,
        "seller_proceeds_copper": 11_728,
        "status": "applied",
    }
    assert REPLAY not in first
    assert (balance(buyer), balance(seller), held(buyer, item)) == (50_000 - 12_345, 1_000 + 11_728, 3)
    assert total_gold() == gold - 617  # only the house's fee leaves the wallets
    assert total_items(item) == items + 3  # the 3 came out of escrow (not in any inventory)
    assert op_state("saga-1:settle") == "applied"

    again = settle(internal_api, parties, "saga-1:settle")
    assert again.status_code == 200 and again.json() == first.json()
    assert again[REPLAY] == "true"
    assert (balance(buyer), balance(seller), held(buyer, item)) == (50_000 - 12_345, 1_000 + 11_728, 3)


def test_the_same_key_with_another_request_is_refused(internal_api: APIClient, parties: dict[str, Any]) -> None:
    assert settle(internal_api, parties, "saga-2:settle").status_code == 200
    gold = total_gold()
    other = settle(internal_api, parties, "saga-2:settle", quantity=4)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert other.json()["extra"] == {"key": "saga-2:settle", "kind": "settlement"}
    assert total_gold() == gold and held(parties["buyer"], parties["item"]) == 3
    as_escrow = escrow(internal_api, parties["seller"], parties["item"], "saga-2:settle", "take")
    assert as_escrow.status_code == 422 and as_escrow.json()["code"] == "idempotency_key_reused"
    assert held(parties["seller"], parties["item"]) == 10


def test_insufficient_funds_is_refused_recorded_and_replayed(internal_api: APIClient, parties: dict[str, Any]) -> None:
    buyer = parties["buyer"]
    gold = total_gold()
    refused = settle(internal_api, parties, "saga-3:settle", total_copper=50_001)
    assert refused.status_code == 409
    assert refused.json() == {
        "detail": "Not enough gold: 5g 0s 1c needed, 5g 0s 0c available.",
        "code": "insufficient_funds",
        "extra": {"required_cp": 50_001, "balance_cp": 50_000},
    }
    assert total_gold() == gold and held(buyer, parties["item"]) == 0
    assert op_state("saga-3:settle") == "refused"
    # The buyer gets richer; the key's answer stays the recorded refusal.
    scalar("UPDATE smp_wlt SET bal_cp = 100000 WHERE plyr_id = %s RETURNING 1", [buyer.pk])
    again = settle(internal_api, parties, "saga-3:settle", total_copper=50_001)
    assert again.status_code == 409 and again.json() == refused.json() and again[REPLAY] == "true"
    assert balance(buyer) == 100_000 and held(buyer, parties["item"]) == 0


@pytest.mark.parametrize("banned", ["buyer", "seller"])
def test_a_banned_party_is_refused(internal_api: APIClient, parties: dict[str, Any], banned: str) -> None:
    Player.objects.filter(pk=parties[banned].pk).update(status="B")
    gold = total_gold()
    refused = settle(internal_api, parties, f"saga-ban-{banned}:settle")
    assert refused.status_code == 403
    assert refused.json()["code"] == "player_banned"
    assert refused.json()["extra"] == {"player_id": parties[banned].pk}
    assert total_gold() == gold and held(parties["buyer"], parties["item"]) == 0


def test_unknown_players_and_items_are_404(internal_api: APIClient, parties: dict[str, Any]) -> None:
    assert settle(internal_api, parties, "saga-404a:settle", buyer_id=10**9).json()["code"] == "not_found"
    assert settle(internal_api, parties, "saga-404b:settle", item_id=10**9).status_code == 404
    assert escrow(internal_api, parties["seller"], parties["item"], "e404", "return", quantity=1).status_code == 200
    bad_item = internal_api.post(
        "/_internal/escrow/",
        {"key": "e404b", "player_id": parties["seller"].pk, "item_id": 10**9, "quantity": 1, "direction": "return"},
        format="json",
    )
    assert bad_item.status_code == 404


def test_invalid_bodies_are_400_and_not_recorded(internal_api: APIClient, parties: dict[str, Any]) -> None:
    assert settle(internal_api, parties, "saga-400:settle", quantity=0).status_code == 400
    assert settle(internal_api, parties, "", quantity=1).status_code == 400
    assert escrow(internal_api, parties["seller"], parties["item"], "e400", "sideways").status_code == 400
    assert op_state("saga-400:settle") is None and op_state("e400") is None


# -- reverse and tombstones -----------------------------------------------------------


def test_reverse_undoes_an_applied_settlement_once(internal_api: APIClient, parties: dict[str, Any]) -> None:
    buyer, seller, item = parties["buyer"], parties["seller"], parties["item"]
    gold, items = total_gold(), total_items(item)
    assert settle(internal_api, parties, "saga-4:settle").status_code == 200

    reverse = internal_api.post("/_internal/settlements/saga-4:settle/reverse/")
    assert reverse.status_code == 200
    assert reverse.json() == {"key": "saga-4:settle", "status": "reversed", "undone": True}
    assert (balance(buyer), balance(seller), held(buyer, item)) == (50_000, 1_000, 0)
    assert (total_gold(), total_items(item)) == (gold, items)
    assert op_state("saga-4:settle") == "reversed"

    again = internal_api.post("/_internal/settlements/saga-4:settle/reverse/")
    assert again.status_code == 200 and again.json() == reverse.json() and again[REPLAY] == "true"
    assert (balance(buyer), balance(seller), held(buyer, item)) == (50_000, 1_000, 0)

    late = settle(internal_api, parties, "saga-4:settle")
    assert late.status_code == 409 and late.json()["code"] == "settlement_reversed"
    assert (balance(buyer), balance(seller), held(buyer, item)) == (50_000, 1_000, 0)


def test_reverse_of_a_never_applied_key_tombstones_it(internal_api: APIClient, parties: dict[str, Any]) -> None:
    gold = total_gold()
    reverse = internal_api.post("/_internal/settlements/saga-5:settle/reverse/")
    assert reverse.status_code == 200
    assert reverse.json() == {"key": "saga-5:settle", "status": "reversed", "undone": False}
    assert op_state("saga-5:settle") == "reversed"

    late = settle(internal_api, parties, "saga-5:settle")
    assert late.status_code == 409
    assert late.json()["code"] == "settlement_reversed"
    assert total_gold() == gold and held(parties["buyer"], parties["item"]) == 0
    again = internal_api.post("/_internal/settlements/saga-5:settle/reverse/")
    assert again.json() == reverse.json()


def test_reverse_of_a_refused_settlement_moves_nothing(internal_api: APIClient, parties: dict[str, Any]) -> None:
    assert settle(internal_api, parties, "saga-6:settle", total_copper=10**9).status_code == 409
    gold = total_gold()
    reverse = internal_api.post("/_internal/settlements/saga-6:settle/reverse/")
    assert reverse.json() == {"key": "saga-6:settle", "status": "reversed", "undone": False}
    assert total_gold() == gold


def test_a_reverse_the_seller_cannot_pay_back_is_refused_and_retryable(
    internal_api: APIClient, parties: dict[str, Any]
) -> None:
    seller = parties["seller"]
    assert settle(internal_api, parties, "saga-7:settle").status_code == 200
    scalar("UPDATE smp_wlt SET bal_cp = 5 WHERE plyr_id = %s RETURNING 1", [seller.pk])  # spent the proceeds
    buyer_before = balance(parties["buyer"])
    refused = internal_api.post("/_internal/settlements/saga-7:settle/reverse/")
    assert refused.status_code == 409 and refused.json()["code"] == "insufficient_funds"
    assert op_state("saga-7:settle") == "applied"
    assert balance(parties["buyer"]) == buyer_before and balance(seller) == 5
    scalar("UPDATE smp_wlt SET bal_cp = 20000 WHERE plyr_id = %s RETURNING 1", [seller.pk])
    retried = internal_api.post("/_internal/settlements/saga-7:settle/reverse/")
    assert retried.status_code == 200 and retried.json()["undone"] is True
    assert balance(seller) == 20_000 - 11_728


def test_reverse_of_an_escrow_key_is_refused(internal_api: APIClient, parties: dict[str, Any]) -> None:
    assert escrow(internal_api, parties["seller"], parties["item"], "saga-8:escrow", "take").status_code == 200
    response = internal_api.post("/_internal/settlements/saga-8:escrow/reverse/")
    assert response.status_code == 422
    assert held(parties["seller"], parties["item"]) == 6


# -- escrow ------------------------------------------------------------------------


def test_escrow_take_and_return_are_idempotent(internal_api: APIClient, parties: dict[str, Any]) -> None:
    seller, item = parties["seller"], parties["item"]
    taken = escrow(internal_api, seller, item, "saga-9:escrow", "take")
    assert taken.status_code == 200
    assert taken.json() == {
        "key": "saga-9:escrow",
        "player_id": seller.pk,
        "item_id": item.pk,
        "quantity": 4,
        "direction": "take",
        "status": "applied",
    }
    assert escrow(internal_api, seller, item, "saga-9:escrow", "take")[REPLAY] == "true"
    assert held(seller, item) == 6
    returned = escrow(internal_api, seller, item, "saga-9:cancel", "return", quantity=3)
    assert returned.status_code == 200
    assert escrow(internal_api, seller, item, "saga-9:cancel", "return", quantity=3).json() == returned.json()
    assert held(seller, item) == 9


def test_escrow_take_refusals(internal_api: APIClient, parties: dict[str, Any]) -> None:
    seller, item = parties["seller"], parties["item"]
    short = escrow(internal_api, seller, item, "saga-10:escrow", "take", quantity=11)
    assert short.status_code == 409
    assert short.json() == {
        "detail": "Not enough items: 11 needed, 10 held.",
        "code": "insufficient_inventory",
        "extra": {"required_qty": 11, "held_qty": 10, "item_id": item.pk},
    }
    assert held(seller, item) == 10
    Player.objects.filter(pk=seller.pk).update(status="B")
    banned = escrow(internal_api, seller, item, "saga-11:escrow", "take", quantity=1)
    assert banned.status_code == 403 and banned.json()["code"] == "player_banned"
    assert held(seller, item) == 10
    # Returning a cancelled listing's remainder works for a banned seller, as listing_cancel does.
    assert escrow(internal_api, seller, item, "saga-11:cancel", "return", quantity=2).status_code == 200
    assert held(seller, item) == 12


def test_a_whole_sale_saga_conserves_gold_and_items(internal_api: APIClient, parties: dict[str, Any]) -> None:
    """escrow take, settle: items move seller -> buyer and gold buyer ->
    seller, the house keeps exactly the fee; by SQL over every row."""
    buyer, seller, item = parties["buyer"], parties["seller"], parties["item"]
    gold, items = total_gold(), total_items(item)
    assert escrow(internal_api, seller, item, "saga-12:escrow", "take", quantity=3).status_code == 200
    assert total_items(item) == items - 3  # held by the market's listing
    settled = settle(internal_api, parties, "saga-12:settle", quantity=3, total_copper=3_000)
    assert settled.status_code == 200
    assert total_items(item) == items
    assert total_gold() + settled.json()["fee_copper"] == gold
    assert (held(seller, item), held(buyer, item)) == (7, 3)
