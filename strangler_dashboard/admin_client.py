"""The proxy's admin API as the dashboard uses it (async, one pooled client).

The token is sent in a header and never returned to a browser or logged.
The actor header carries who pressed the button (``name@dashboard``), so
the proxy's audit log says who flipped a route from the page.
"""

from __future__ import annotations

from typing import Any

import httpx


class AdminError(RuntimeError):
    """The admin API refused or failed; ``status`` is its HTTP status (502
    when it did not answer at all)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class AdminClient:
    def __init__(self, base_url: str, token: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(10.0, connect=3.0),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _request(self, method: str, path: str, *, actor: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"x-strangler-actor": actor} if actor else None
        try:
            return await self._client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise AdminError(502, f"the proxy's admin API did not answer: {type(exc).__name__}") from None

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        return _json(await self._request("GET", path, params=params or None))

    async def post(self, path: str, body: dict[str, Any], *, actor: str) -> dict[str, Any]:
        return _json(await self._request("POST", path, json=body, actor=actor))

    async def metrics_text(self) -> str:
        response = await self._request("GET", "/_strangler/metrics")
        if response.status_code != 200:
            raise AdminError(response.status_code, "metrics unavailable")
        return response.text


def _json(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or :class:`AdminError` with its message."""
    try:
        data = response.json()
    except ValueError:
        data = {"error": response.text[:300]}
    if not isinstance(data, dict):
        data = {"error": "unexpected answer", "value": data}
    if response.status_code >= 400:
        problems = "; ".join(str(p) for p in data.get("problems", []))
        raise AdminError(response.status_code, str(data.get("error", "error")) + (f": {problems}" if problems else ""))
    return data
