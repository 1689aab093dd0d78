"""market's HTTP app: the monolith's five market endpoints, answered as the
monolith answers them (``legacy_contract.py``), plus the platform's
``/healthz``, ``/readyz`` and rebuild route.

The order of checks is DRF's: content negotiation (``?format=``, ``Accept``),
authentication (only the signed ``X-Strangler-Identity`` is trusted: none ->
401 "not provided" on writes; ``auth: invalid``, or a forged, altered or
stale header -> 401 "Invalid token." everywhere, and a log line), then the
view: the player (403 ``no_player_account``), [writes: the ownership of the
market's writes (409 ``writes_moved``)], the body's parsing and validation
(415 / 400), and the business rules in the monolith's order.

Run: ``python -m new_services.market serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response

from new_services.market.bootstrap import Market, bootstrap
from new_services.market.domain.model import ACTIVE, LISTING_STATUS_LABELS, Player, Refusal, no_player_account
from new_services.market.entrypoints import legacy_contract as legacy
from new_services.market.entrypoints import openapi_models as models
from new_services.market.service_layer.ports import MonolithUnavailable
from new_services.market.service_layer.writes import Rejected
from new_services.platform.http import platform_router
from new_services.platform.identity import HEADER, Identity, IdentityError, verify

log = logging.getLogger(__name__)

#: A saga untouched this long is taken over by the periodic resumer.
STALE_SAGA_S = 30.0
RESUME_EVERY_S = 5.0
UNAVAILABLE = {
    "detail": "The monolith did not answer; nothing was changed or the operation will complete. Retry later.",
    "code": "market_unavailable",
    "extra": {},
}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(legacy.render(body), status_code=status, media_type="application/json", headers=headers)


class Denied(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _unauthenticated(body: dict[str, str]) -> Denied:
    return Denied(json_response(401, body, {"WWW-Authenticate": legacy.WWW_AUTHENTICATE}))


class Edge:
    """The checks every endpoint shares, in DRF's order."""

    def __init__(self, market: Market) -> None:
        self.market = market

    def negotiate(self, request: Request) -> None:
        refused = legacy.acceptable(request.headers.get("accept"), request.query_params.get("format"))
        if refused is not None:
            raise Denied(json_response(*refused))

    def identity(self, request: Request) -> Identity | None:
        """The verified caller, ``None`` if anonymous; a bad header is a 401."""
        value = request.headers.get(HEADER)
        if value is None:
            return None
        try:
            identity = verify(value, self.market.keys.keyring())
        except (IdentityError, OSError) as exc:
            client = request.client.host if request.client else "?"
            log.warning("refused an identity header from %s: %s", client, exc)
            raise _unauthenticated(legacy.INVALID_TOKEN) from None
        if not identity.valid:
            raise _unauthenticated(legacy.INVALID_TOKEN)
        return identity

    def player(self, request: Request) -> Player:
        """The caller as a trading player (a write's first checks)."""
        identity = self.identity(request)
        if identity is None:
            raise _unauthenticated(legacy.NOT_AUTHENTICATED)
        if identity.player_id is None:
            raise Denied(json_response(403, no_player_account().body()))
        return Player(identity.player_id, identity.username or "", identity.player_status or ACTIVE)

    @asynccontextmanager
    async def owned(self) -> AsyncIterator[None]:
        """Run the block (a write) only while the market owns the writes and
        its projector has caught up with the flip; it counts as in flight
        for the handback the whole time (``service_layer/handback.py``)."""
        ownership = self.market.ownership
        async with ownership.writing():
            try:
                owner = await ownership.owner()
            except psycopg.Error as exc:  # the control database is away: no write without knowing the owner
                log.warning("cannot read the owner of the market's writes: %s", exc)
                raise Denied(json_response(503, UNAVAILABLE)) from None
            if owner.owner != "market":  # the header lets the proxy replay the write to the owner
                raise Denied(json_response(409, owner.refusal_body(), {"X-Strangler-Writes-Moved": owner.owner}))
            if not await ownership.caught_up(owner):
                raise Denied(json_response(503, UNAVAILABLE))
            yield

    async def body(self, request: Request, fields: tuple[legacy.InputField, ...]) -> dict[str, int]:
        data, _ = legacy.parse_body(request.headers.get("content-type", ""), await request.body())
        reads = self.market.reads

        async def exists(name: str, pk: int) -> bool:
            table = {"item": ("items", "item_id"), "listing": ("listings", "listing_id")}[name]
            return await reads.exists(*table, pk)

        return await legacy.validate_input(data, fields, exists)


def absolute_uri(request: Request) -> str:
    """Django's ``build_absolute_uri()``: the Host header as sent, plain http."""
    host = request.headers.get("host", f"{request.url.hostname}:{request.url.port}")
    query = request.url.query
    return f"http://{host}{request.url.path}" + (f"?{query}" if query else "")


Handler = Callable[[Request], Awaitable[Response]]


def answered(handler: Handler) -> Handler:
    """Renders every refusal as the monolith would."""

    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except Denied as exc:
            return exc.response
        except legacy.ValidationFailed as exc:
            return json_response(400, exc.body)
        except legacy.UnsupportedMediaType as exc:
            return json_response(415, exc.body)
        except Refusal as exc:
            return json_response(exc.status, exc.body())
        except Rejected as exc:
            return json_response(exc.status, exc.body)
        except MonolithUnavailable as exc:
            log.warning("write not completed: %s", exc)
            return json_response(503, UNAVAILABLE)

    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    return wrapper


def not_allowed(edge: Edge, allowed: str) -> Handler:
    """DRF's 405, after negotiation and its permission check (an unsafe
    method needs a caller)."""

    @answered
    async def method_not_allowed(request: Request) -> Response:
        if "listing_id" in request.path_params and legacy.path_id(request.path_params["listing_id"]) is None:
            return Response(legacy.DJANGO_NOT_FOUND_HTML, status_code=404, media_type="text/html; charset=utf-8")
        edge.negotiate(request)
        identity = edge.identity(request)
        if identity is None and request.method not in ("GET", "HEAD"):
            raise _unauthenticated(legacy.NOT_AUTHENTICATED)
        body = {"detail": f'Method "{request.method}" not allowed.'}
        return json_response(405, body, {"Allow": allowed})

    return method_not_allowed


def add_routes(app: FastAPI, market: Market) -> None:
    edge = Edge(market)
    status_choices = list(LISTING_STATUS_LABELS)

    @answered
    async def listings_list(request: Request) -> Response:
        """``GET /api/listings/?item=&seller=&status=``: newest first, paginated."""
        edge.negotiate(request)
        edge.identity(request)
        params = request.query_params
        filters = legacy.query_filters(params, ("item", "seller"), {"status": status_choices})
        limit, offset = legacy.page_window(params)
        page = await market.reads.listings(filters, limit, offset)
        results = [legacy.listing_json(listing) for listing in page.rows]
        return json_response(200, legacy.paginated(absolute_uri(request), page.count, limit, offset, results))

    @answered
    async def listings_create(request: Request) -> Response:
        """``POST /api/listings/ {item, quantity, unit_price_copper}``: escrow, then the listing."""
        edge.negotiate(request)
        seller = edge.player(request)
        async with edge.owned():
            values = await edge.body(request, legacy.LISTING_INPUT)
            listing = await market.writes.create_listing(
                seller, values["item"], values["quantity"], values["unit_price_copper"]
            )
        return json_response(201, legacy.listing_json(listing))

    @answered
    async def listings_cancel(request: Request) -> Response:
        """``POST /api/listings/{id}/cancel/``: only the seller, only while open."""
        listing_id = legacy.path_id(request.path_params["listing_id"])
        if listing_id is None:
            return Response(legacy.DJANGO_NOT_FOUND_HTML, status_code=404, media_type="text/html; charset=utf-8")
        edge.negotiate(request)
        player = edge.player(request)
        async with edge.owned():
            if listing_id > legacy.MAX_ID:
                raise Refusal(404, "not_found", f"Listing {listing_id} not found.")
            listing = await market.writes.cancel_listing(listing_id, player.player_id)
        return json_response(200, legacy.listing_json(listing))

    @answered
    async def sales_list(request: Request) -> Response:
        """``GET /api/sales/?item=&buyer=&seller=&listing=``: most recent first, paginated."""
        edge.negotiate(request)
        edge.identity(request)
        params = request.query_params
        filters = legacy.query_filters(params, ("item", "buyer", "seller", "listing"), {})
        limit, offset = legacy.page_window(params)
        page = await market.reads.sales(filters, limit, offset)
        results = [legacy.sale_json(sale) for sale in page.rows]
        return json_response(200, legacy.paginated(absolute_uri(request), page.count, limit, offset, results))

    @answered
    async def sales_create(request: Request) -> Response:
        """``POST /api/sales/ {listing, quantity}``: the buy saga."""
        edge.negotiate(request)
        buyer = edge.player(request)
        async with edge.owned():
            values = await edge.body(request, legacy.SALE_INPUT)
            sale = await market.writes.buy(buyer, values["listing"], values["quantity"])
        return json_response(201, legacy.sale_json(sale))

    refusal = models.error(models.ApplicationError, "a refusal of the monolith's rules: {detail, code, extra}")
    writes_moved = models.error(models.ApplicationError, "writes_moved (the monolith owns the writes), or a rule")
    unavailable = models.error(
        models.ApplicationError, "the monolith did not answer, or the projector lags after a flip"
    )
    filters = {"item": "integer >= 1", "seller": "integer >= 1", "buyer": "integer >= 1", "listing": "integer >= 1"}
    page = {"limit": "results per page (default 50; ignored if not a positive integer)", "offset": "first index"}

    def query(names: tuple[str, ...], extra: dict[str, Any] | None = None) -> dict[str, Any]:
        parameters = [
            {"name": n, "in": "query", "required": False, "schema": {"type": "string"}, "description": d}
            for n, d in {**{k: filters[k] for k in names}, **(extra or {}), **page}.items()
        ]
        return {"parameters": parameters}

    app.add_api_route(
        "/api/listings/",
        listings_list,
        methods=["GET"],
        operation_id="listings_list",
        tags=["market"],
        responses={200: {"model": models.ListingPage}, 400: models.FIELD_ERRORS, 401: models.UNAUTHENTICATED},
        openapi_extra=query(("item", "seller"), {"status": "one of O, F, C, X"}),
    )
    app.add_api_route(
        "/api/listings/",
        listings_create,
        methods=["POST"],
        operation_id="listings_create",
        tags=["market"],
        status_code=201,
        responses={
            201: {"model": models.Listing},
            400: models.FIELD_ERRORS,
            401: models.UNAUTHENTICATED,
            403: refusal,
            409: writes_moved,
            415: models.error(models.Detail, "a body that is not JSON or a form"),
            503: unavailable,
        },
        openapi_extra=models.request_body(models.ListingCreateInput),
    )
    app.add_api_route(
        "/api/listings/{listing_id}/cancel/",
        listings_cancel,
        methods=["POST"],
        operation_id="listings_cancel",
        tags=["market"],
        responses={
            200: {"model": models.Listing},
            401: models.UNAUTHENTICATED,
            403: refusal,
            404: refusal,
            409: writes_moved,
            503: unavailable,
        },
        openapi_extra={
            "parameters": [{"name": "listing_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
        },
    )
    app.add_api_route(
        "/api/sales/",
        sales_list,
        methods=["GET"],
        operation_id="sales_list",
        tags=["market"],
        responses={200: {"model": models.SalePage}, 400: models.FIELD_ERRORS, 401: models.UNAUTHENTICATED},
        openapi_extra=query(("item", "buyer", "seller", "listing")),
    )
    app.add_api_route(
        "/api/sales/",
        sales_create,
        methods=["POST"],
        operation_id="sales_create",
        tags=["market"],
        status_code=201,
        responses={
            201: {"model": models.Sale},
            400: models.FIELD_ERRORS,
            401: models.UNAUTHENTICATED,
            403: refusal,
            409: writes_moved,
            415: models.error(models.Detail, "a body that is not JSON or a form"),
            503: unavailable,
        },
        openapi_extra=models.request_body(models.SaleCreateInput),
    )
    for path, endpoint in (("/api/listings/", listings_list), ("/api/sales/", sales_list)):
        app.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False)  # Django answers HEAD too
    for path, allowed in (
        ("/api/listings/", "GET, POST, HEAD, OPTIONS"),
        ("/api/sales/", "GET, POST, HEAD, OPTIONS"),
        ("/api/listings/{listing_id}/cancel/", "POST, OPTIONS"),
    ):
        others = ["PUT", "PATCH", "DELETE"] + (["GET", "HEAD"] if "cancel" in path else [])
        app.add_api_route(path, not_allowed(edge, allowed), methods=others, include_in_schema=False)


async def _resume_forever(market: Market) -> None:
    """Every non-terminal saga at start-up, then the stale ones periodically."""
    older_than = 0.0
    while True:
        try:
            await market.writes.resume_all(older_than)
        except Exception:
            log.exception("resuming sagas failed; retrying")
        older_than = STALE_SAGA_S
        await asyncio.sleep(RESUME_EVERY_S)


def create_app(market: Market | None = None) -> FastAPI:
    """The app (a uvicorn factory). Nothing connects before startup."""
    service = market or bootstrap()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.pool.open(wait=False)
        relay = None
        if service.settings.relay == "thread":
            from new_services.market.adapters.relay import KafkaPublisher, OutboxRelay

            relay = OutboxRelay(
                service.settings.service.libpq_dsn, KafkaPublisher(service.settings.service.require_kafka())
            )
            relay.start_thread()
        background = [asyncio.create_task(_resume_forever(service))]
        if service.handback is not None:
            background.append(asyncio.create_task(service.handback.run_forever()))
        yield
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if relay is not None:
            relay.request_stop()
        await service.monolith.aclose()
        await service.pool.close()
        await service.engine.dispose()

    app = FastAPI(
        title="market",
        version="1.0.0",
        lifespan=lifespan,
        description="Listings and sales of the SMP market: the monolith's contract, the write side as sagas.",
    )
    add_routes(app, service)
    app.include_router(platform_router(service.facts, service.engine))
    app.openapi = _openapi_with_inputs(app)  # type: ignore[method-assign]
    return app


def _openapi_with_inputs(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI's document, plus the input schemas the handlers parse themselves."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (models.ListingCreateInput, models.SaleCreateInput):
                components[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi
