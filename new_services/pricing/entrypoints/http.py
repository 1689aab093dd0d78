"""pricing's FastAPI app: the two endpoints it owns, plus the platform's
``/healthz``, ``/readyz`` and rebuild route.

Run: ``uvicorn --factory new_services.pricing.entrypoints.http:create_app``
(``python -m new_services.pricing serve`` does it with the settings' host
and port). The handlers answer with pre-rendered JSON and no response-model
validation: the read is one SQL round trip and the rest must stay small for
the p50 to beat the monolith's by 10x.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response

from new_services.platform.http import platform_router
from new_services.pricing.bootstrap import Pricing, bootstrap
from new_services.pricing.domain.model import Candle, ItemRate
from new_services.pricing.domain.windows import INTERVALS, RATE_WINDOW
from new_services.pricing.entrypoints import legacy_contract as legacy
from new_services.pricing.entrypoints import openapi_models as models
from new_services.pricing.service_layer import reads

HISTORY_MAX_DAYS = 90
HISTORY_MAX_CANDLES = 3000
HISTORY_INTERVAL_CHOICES = sorted(INTERVALS)


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def rate_json(rate: ItemRate) -> dict[str, Any]:
    change = rate.change
    return {
        "item_id": rate.item_id,
        "sku": rate.sku,
        "as_of": legacy.timestamp(rate.as_of),
        "window_hours": int(RATE_WINDOW.total_seconds() // 3600),
        "last_price": legacy.money(rate.last_price) if rate.last_price is not None else None,
        "last_sold_at": legacy.timestamp(rate.last_sold_at) if rate.last_sold_at else None,
        "average_price_24h": legacy.money(rate.average_price) if rate.average_price is not None else None,
        "volume_24h": {"quantity": rate.volume_quantity, "trades": rate.volume_trades,
                       "value": legacy.money(rate.volume_value)},
        "change_24h": None if change is None else {**legacy.money(change), "percent": rate.change_percent},
    }


def candle_json(bucket: Any, candle: Candle) -> dict[str, Any]:
    return {"start": legacy.timestamp(bucket), "open": candle.open, "high": candle.high, "low": candle.low,
            "close": candle.close, "volume": candle.volume, "trades": candle.trades}


def _negotiation_error(request: Request) -> Response | None:
    status = legacy.acceptable(request.headers.get("accept"), request.query_params.get("format"))
    return None if status is None else JSON(legacy.NEGOTIATION_ERRORS[status], status_code=status)


def _history_filters(request: Request) -> tuple[str, int]:
    """``interval`` and ``days`` as DRF validates them (same messages, same order)."""
    params = request.query_params
    errors: dict[str, list[str]] = {}
    interval, days = "1h", 7
    try:
        interval = legacy.choice(params.get("interval"), choices=HISTORY_INTERVAL_CHOICES, default="1h")
    except ValueError as exc:
        errors["interval"] = [str(exc)]
    try:
        days = legacy.integer(params.get("days"), minimum=1, maximum=HISTORY_MAX_DAYS, default=7)
    except ValueError as exc:
        errors["days"] = [str(exc)]
    if not errors:
        count = int(days * INTERVALS["1d"] / INTERVALS[interval])
        if count > HISTORY_MAX_CANDLES:
            errors["non_field_errors"] = [
                f"{count} candles requested; at most {HISTORY_MAX_CANDLES}: use a wider interval or fewer days."]
    if errors:
        raise legacy.FieldErrors(errors)
    return interval, days


NOT_FOUND: dict[str, Any] = {
    "model": models.ApplicationError,
    "description": "an unknown item (``{detail, code, extra}``), or Django's HTML page for an id that is not a number",
    "content": {"text/html": {"schema": {"type": "string"}}},
}


def _item_or_refusal(segment: str, request: Request) -> int | Response:
    """The item id of the path, or what Django and DRF answer before a view
    runs: the HTML 404 of an id that is not a number, then content negotiation."""
    number = legacy.path_id(segment)
    if number is None:
        return HTMLResponse(legacy.DJANGO_NOT_FOUND_HTML, status_code=404)
    refused = _negotiation_error(request)
    return number if refused is None else refused


def add_routes(app: FastAPI, pricing: Pricing) -> None:

    @app.get(
        "/api/items/{item_id}/rate/", operation_id="items_rate", tags=["items"],
        responses={200: {"model": models.ItemRate}, 404: NOT_FOUND},
    )
    async def items_rate(item_id: str, request: Request) -> Response:
        number = _item_or_refusal(item_id, request)
        if isinstance(number, Response):
            return number
        rate = None
        if number <= legacy.MAX_ID:
            async with pricing.read_pool.connection() as conn:
                rate = await reads.rate(conn, item_id=number, as_of=pricing.clock.now())
        return JSON(legacy.not_found(number), status_code=404) if rate is None else JSON(rate_json(rate))

    @app.get(
        "/api/items/{item_id}/history/", operation_id="items_history", tags=["items"],
        responses={200: {"model": models.ItemHistory}, 404: NOT_FOUND,
                   400: {"model": models.FieldErrors, "description": "invalid query parameters (DRF's field errors)"}},
    )
    async def items_history(
        item_id: str, request: Request,
        interval: str = Query("1h", description=f"one of {HISTORY_INTERVAL_CHOICES}"),
        days: str = Query("7", description=f"1 to {HISTORY_MAX_DAYS}"),
    ) -> Response:
        number = _item_or_refusal(item_id, request)
        if isinstance(number, Response):
            return number
        try:
            chosen_interval, chosen_days = _history_filters(request)
        except legacy.FieldErrors as exc:
            return JSON(exc.errors, status_code=400)
        series = None
        if number <= legacy.MAX_ID:
            async with pricing.read_pool.connection() as conn:
                series = await reads.history(conn, item_id=number, interval=chosen_interval, days=chosen_days,
                                             until=pricing.clock.now())
        if series is None:
            return JSON(legacy.not_found(number), status_code=404)
        return JSON({"item_id": number, "interval": chosen_interval, "days": chosen_days,
                     "candles": [candle_json(bucket, candle) for bucket, candle in series]})

    for path, endpoint in (("/api/items/{item_id}/rate/", items_rate), ("/api/items/{item_id}/history/", items_history)):
        app.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False)  # Django answers HEAD too


#: The parameters as the monolith documents them. The handlers take them as
#: strings (to answer bad values exactly as DRF and Django do, never with
#: FastAPI's 422), so the document states their real types here and drops
#: the 422 FastAPI would list.
PARAMETER_SCHEMAS: dict[str, dict[str, Any]] = {
    "item_id": {"type": "integer"},
    "interval": {"type": "string", "enum": HISTORY_INTERVAL_CHOICES, "default": "1h"},
    "days": {"type": "integer", "minimum": 1, "maximum": HISTORY_MAX_DAYS, "default": 7},
}


def _openapi_with_legacy_parameters(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            for operations in schema["paths"].values():
                for operation in operations.values():
                    operation["responses"].pop("422", None)  # string parameters never fail FastAPI's validation
                    for parameter in operation.get("parameters", []):
                        if parameter["name"] in PARAMETER_SCHEMAS:
                            parameter["schema"] = dict(PARAMETER_SCHEMAS[parameter["name"]])
            for unused in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(unused, None)
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def create_app(pricing: Pricing | None = None) -> FastAPI:
    """The app (a uvicorn factory). Nothing connects before startup."""
    service = pricing or bootstrap()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.read_pool.open(wait=False)
        yield
        await service.read_pool.close()
        await service.engine.dispose()

    app = FastAPI(title="pricing", version="1.0.0", lifespan=lifespan,
                  description="The exchange rate of every SMP item, as a read model built from market events.")
    add_routes(app, service)
    app.include_router(platform_router(service.facts, service.engine))
    app.openapi = _openapi_with_legacy_parameters(app)  # type: ignore[method-assign]
    return app
