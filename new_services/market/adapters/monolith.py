"""The monolith's ``/_internal/`` API over httpx (docs/market-write-side.md).

Every call carries ``X-Strangler-Service-Token``. A 2xx or 4xx answer is
definitive (the monolith recorded it under the key); a connection error, a
timeout or a 5xx is :class:`MonolithUnavailable`: the outcome is unknown and
the saga repeats the call with the same key or undoes it.
"""

from __future__ import annotations

from typing import Any

import httpx

from new_services.market.service_layer.ports import Answer, Monolith, MonolithUnavailable

SERVICE_TOKEN_HEADER = "X-Strangler-Service-Token"


class HttpMonolith(Monolith):
    def __init__(
        self,
        base_url: str,
        service_token: str,
        *,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={SERVICE_TOKEN_HEADER: service_token},
            timeout=timeout_s,
            transport=transport,
        )

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> Answer:
        try:
            response = await self._client.post(path, json=body or {})
        except httpx.HTTPError as exc:
            raise MonolithUnavailable(f"POST {path}: {exc!r}") from exc
        if response.status_code >= 500:
            raise MonolithUnavailable(f"POST {path}: {response.status_code}")
        try:
            payload = response.json()
        except ValueError:
            payload = {"detail": response.text}
        return Answer(response.status_code, payload)

    async def settle(
        self, *, key: str, buyer_id: int, seller_id: int, item_id: int, quantity: int, total_copper: int
    ) -> Answer:
        return await self._post(
            "/_internal/settlements/",
            {
                "key": key,
                "buyer_id": buyer_id,
                "seller_id": seller_id,
                "item_id": item_id,
                "quantity": quantity,
                "total_copper": total_copper,
            },
        )

    async def reverse(self, *, key: str) -> Answer:
        return await self._post(f"/_internal/settlements/{key}/reverse/")

    async def escrow(self, *, key: str, player_id: int, item_id: int, quantity: int, direction: str) -> Answer:
        return await self._post(
            "/_internal/escrow/",
            {"key": key, "player_id": player_id, "item_id": item_id, "quantity": quantity, "direction": direction},
        )

    async def aclose(self) -> None:
        await self._client.aclose()
