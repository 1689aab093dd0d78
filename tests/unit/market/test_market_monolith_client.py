"""The client of the monolith's ``/_internal/`` API: the token on every call,
the documented bodies, and which answers are definitive."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from new_services.market.adapters.monolith import HttpMonolith
from new_services.market.service_layer.ports import MonolithUnavailable

SEEN: list[httpx.Request] = []


def handler(request: httpx.Request) -> httpx.Response:
    SEEN.append(request)
    if request.headers.get("x-strangler-service-token") != "tok":
        return httpx.Response(401, json={"detail": "no"})
    body = json.loads(request.content or b"{}")
    if request.url.path == "/_internal/settlements/":
        if body["buyer_id"] == 99:
            return httpx.Response(502, text="bad gateway")
        if body["total_copper"] > 1000:
            return httpx.Response(409, json={"detail": "Not enough gold", "code": "insufficient_funds", "extra": {}})
        return httpx.Response(
            200, json={"key": body["key"], "fee_copper": 5, "seller_proceeds_copper": 95, "status": "applied"}
        )
    if request.url.path.endswith("/reverse/"):
        return httpx.Response(200, json={"status": "reversed"})
    if request.url.path == "/_internal/escrow/":
        return httpx.Response(200, json={"key": body["key"], "status": "applied", "direction": body["direction"]})
    return httpx.Response(404)


def client(token: str = "tok") -> HttpMonolith:
    return HttpMonolith("http://legacy/", token, transport=httpx.MockTransport(handler))


def settle(monolith: HttpMonolith, buyer: int = 2, total: int = 100) -> object:
    return asyncio.run(
        monolith.settle(key="s:settle", buyer_id=buyer, seller_id=1, item_id=7, quantity=1, total_copper=total)
    )


def test_answers_are_definitive_for_2xx_and_4xx() -> None:
    SEEN.clear()
    applied = settle(client())
    assert applied.status == 200 and applied.body["fee_copper"] == 5  # type: ignore[attr-defined]
    assert json.loads(SEEN[-1].content) == {
        "key": "s:settle",
        "buyer_id": 2,
        "seller_id": 1,
        "item_id": 7,
        "quantity": 1,
        "total_copper": 100,
    }
    refused = settle(client(), total=5000)
    assert refused.status == 409 and refused.body["code"] == "insufficient_funds"  # type: ignore[attr-defined]
    assert settle(client("wrong")).status == 401  # type: ignore[attr-defined]


def test_5xx_and_connection_errors_are_unknown_outcomes() -> None:
    with pytest.raises(MonolithUnavailable):
        settle(client(), buyer=99)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    down = HttpMonolith("http://legacy", "tok", transport=httpx.MockTransport(refuse))
    with pytest.raises(MonolithUnavailable):
        settle(down)


def test_reverse_and_escrow_paths() -> None:
    SEEN.clear()
    monolith = client()
    assert asyncio.run(monolith.reverse(key="abc:settle")).ok
    assert SEEN[-1].url.path == "/_internal/settlements/abc:settle/reverse/"
    answer = asyncio.run(monolith.escrow(key="abc:escrow", player_id=1, item_id=7, quantity=3, direction="take"))
    assert answer.ok and answer.body["direction"] == "take"
    assert json.loads(SEEN[-1].content)["quantity"] == 3
