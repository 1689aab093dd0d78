"""pricing's HTTP app: the two endpoints it owns, plus the platform's
``/healthz``, ``/readyz`` and rebuild route.

Run: ``uvicorn --factory new_services.pricing.entrypoints.http:serving_app``
(``python -m new_services.pricing serve`` does it with the settings' host
and port). ``serving_app`` is the FastAPI app behind the lean front of
``front.py``; ``create_app`` is the FastAPI app alone (same answers, a few
tenths of a millisecond slower per read).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response

from new_services.platform.http import platform_router
from new_services.pricing.adapters import change_feed
from new_services.pricing.bootstrap import Pricing, bootstrap
from new_services.pricing.entrypoints import item_answers
from new_services.pricing.entrypoints import openapi_models as models
from new_services.pricing.entrypoints.front import ItemReadsFront
from new_services.pricing.entrypoints.item_answers import HISTORY_INTERVAL_CHOICES, HISTORY_MAX_DAYS

NOT_FOUND: dict[str, Any] = {
    "model": models.ApplicationError,
    "description": "an unknown item (``{detail, code, extra}``), or Django's HTML page for an id that is not a number",
    "content": {"text/html": {"schema": {"type": "string"}}},
}


def as_response(answer: item_answers.Answer) -> Response:
    return Response(answer.body, status_code=answer.status, media_type=answer.content_type)


def add_routes(app: FastAPI, pricing: Pricing) -> None:
    """The two reads as FastAPI routes: they document the contract in
    OpenAPI and answer when the app is served without the front."""

    @app.get(
        "/api/items/{item_id}/rate/",
        operation_id="items_rate",
        tags=["items"],
        responses={200: {"model": models.ItemRate}, 404: NOT_FOUND},
    )
    async def items_rate(item_id: str, request: Request) -> Response:
        params = dict(request.query_params)
        return as_response(await item_answers.rate(pricing.reads, item_id, request.headers.get("accept"), params))

    @app.get(
        "/api/items/{item_id}/history/",
        operation_id="items_history",
        tags=["items"],
        responses={
            200: {"model": models.ItemHistory},
            404: NOT_FOUND,
            400: {"model": models.FieldErrors, "description": "invalid query parameters (DRF's field errors)"},
        },
    )
    async def items_history(
        item_id: str,
        request: Request,
        interval: str = Query("1h", description=f"one of {HISTORY_INTERVAL_CHOICES}"),
        days: str = Query("7", description=f"1 to {HISTORY_MAX_DAYS}"),
    ) -> Response:
        params = dict(request.query_params)
        return as_response(await item_answers.history(pricing.reads, item_id, request.headers.get("accept"), params))

    for path, endpoint in (
        ("/api/items/{item_id}/rate/", items_rate),
        ("/api/items/{item_id}/history/", items_history),
    ):
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
        following = asyncio.create_task(change_feed.follow(service.settings.service.libpq_dsn, service.reads.cache))
        yield
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
        await service.read_pool.close()
        await service.engine.dispose()

    app = FastAPI(
        title="pricing",
        version="1.0.0",
        lifespan=lifespan,
        description="The exchange rate of every SMP item, as a read model built from market events.",
    )
    add_routes(app, service)
    app.include_router(platform_router(service.facts, service.engine))
    app.openapi = _openapi_with_legacy_parameters(app)  # type: ignore[method-assign]
    return app


def serving_app(pricing: Pricing | None = None) -> ItemReadsFront:
    """What ``serve`` runs: the front answering the two reads, the FastAPI
    app for everything else (lifespan included)."""
    service = pricing or bootstrap()
    return ItemReadsFront(create_app(service), service.reads)
