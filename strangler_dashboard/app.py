"""The dashboard's web app (Starlette): login, the page, its JSON, its buttons.

Composition root: :func:`create_app` builds the admin client, the board
provider (the plan's when a plan file is configured, else the proxy's
routes), the pipeline reader and the collector, and starts the collector's
loop for the life of the app. Every route but ``/healthz``, ``/login`` and
the login page's stylesheet needs a session (:mod:`strangler_dashboard.auth`).

=======  =================  ==============================================
GET      /                  the page (303 to /login without a session)
GET      /api/snapshot      board, figures, audit, pipeline (JSON, polled)
GET      /api/route?key=K   one route's timeline and latest diffs
POST     /api/advance       {target, reason, force?}; header x-strangler-dashboard
POST     /api/rollback      {target, reason}; same header
POST     /login, /logout    form login (name, secret), logout
=======  =================  ==============================================
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from strangler_dashboard.admin_client import AdminClient, AdminError
from strangler_dashboard.auth import COOKIE, CSRF_HEADER, SESSION_S, Authenticator, Session
from strangler_dashboard.board import BoardProvider, RoutesBoard, StepRefused
from strangler_dashboard.collector import Collector
from strangler_dashboard.pipeline import PipelineReader
from strangler_dashboard.settings import DashboardSettings

log = logging.getLogger("strangler_dashboard")

STATIC = Path(__file__).parent / "static"
#: Served without a session: the login page's look, nothing about the stack.
PUBLIC_ASSETS = frozenset({"login.css"})
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
#: The login form's largest body (a name and a secret).
LOGIN_BODY_MAX = 16 * 1024
BoardFactory = Callable[[DashboardSettings, AdminClient], BoardProvider]


def default_board(settings: DashboardSettings, admin: AdminClient) -> BoardProvider:
    """The plan's board when a plan file is configured (its stages, gates and
    steps), else the board of the proxy's routes."""
    if settings.plan_file is not None:
        from strangler_dashboard.plan_board import PlanBoard

        return PlanBoard(settings)
    return RoutesBoard(admin)


class Dashboard:
    """The running parts one app owns (built in the lifespan, not at import)."""

    def __init__(
        self,
        settings: DashboardSettings,
        board_factory: BoardFactory,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.auth = Authenticator(token=str(settings.admin_token), password=settings.password)
        self.admin = AdminClient(settings.admin_url, str(settings.admin_token), transport=transport)
        self.board = board_factory(settings, self.admin)
        self.pipeline = PipelineReader(
            cdc_state_dir=settings.cdc_state_dir,
            kafka_bootstrap=settings.kafka_bootstrap,
            acl_group=settings.acl_group,
            legacy_dsn=str(settings.legacy_database_url) if settings.legacy_database_url else None,
            services=settings.services,
        )
        self.collector = Collector(
            admin=self.admin, board=self.board, pipeline=self.pipeline, sample_s=settings.sample_s
        )

    def session(self, request: Request) -> Session | None:
        return self.auth.session(request.cookies.get(COOKIE))


class Json(JSONResponse):
    """JSON whose dates and other odd values become strings, not a 500."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=str, separators=(",", ":")).encode()


def _headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


async def login_form(request: Request) -> dict[str, str]:
    """The login form's fields (urlencoded; bounded in size). Parsed here so
    the dashboard needs no multipart library for two text fields."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > LOGIN_BODY_MAX:
            return {}  # read no further: two short fields never need this much
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    except ValueError:
        return {}
    return {k: v[-1] for k, v in fields.items()}


def login_page(error: str = "", status: int = 200) -> HTMLResponse:
    """The login form: a name for the audit log and the token or password."""
    message = f'<p class="error" data-testid="login-error">{html.escape(error)}</p>' if error else ""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Strangler dashboard: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/login.css"></head>
<body><main class="login"><h1>Strangler migration dashboard</h1>
<form method="post" action="/login" autocomplete="off">
<label>Your name (for the audit log)<input name="name" data-testid="login-name" maxlength="40" required></label>
<label>Admin token or dashboard password<input name="secret" type="password" data-testid="login-secret" required></label>
<button type="submit" data-testid="login-submit">Log in</button>{message}
</form><p class="hint">The token is in <code>&lt;state-dir&gt;/admin-token</code>, the password in
<code>&lt;state-dir&gt;/dashboard-password</code>.</p></main></body></html>"""
    return HTMLResponse(body, status_code=status)


def create_app(
    settings: DashboardSettings,
    *,
    board_factory: BoardFactory = default_board,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """The app; ``transport`` replaces the network to the admin API (tests)."""
    holder: dict[str, Dashboard] = {}

    def dash() -> Dashboard:
        return holder["dashboard"]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        dashboard = Dashboard(settings, board_factory, transport)
        holder["dashboard"] = dashboard
        stop = asyncio.Event()
        loop = asyncio.create_task(dashboard.collector.run(stop))
        log.info("dashboard ready", extra={"admin_url": settings.admin_url, "board": dashboard.board.source})
        try:
            yield
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(loop, timeout=5.0)
            await dashboard.admin.aclose()
            await asyncio.to_thread(dashboard.pipeline.close)

    async def healthz(_request: Request) -> Response:
        return Json({"status": "ok"})

    async def get_login(request: Request) -> Response:
        if dash().session(request):
            return RedirectResponse("/", status_code=303)
        return _headers(login_page())

    async def post_login(request: Request) -> Response:
        d = dash()
        address = _client(request)
        if d.auth.throttled(address):
            log.warning("dashboard login throttled", extra={"client": address})
            return _headers(login_page("Too many failed attempts; wait a minute.", 429))
        form = await login_form(request)
        name, secret = form.get("name", ""), form.get("secret", "")
        via = d.auth.check(secret)
        if via is None:
            d.auth.failed(address)
            log.warning("dashboard login refused", extra={"client": address})
            return _headers(login_page("Wrong token or password.", 401))
        cookie = d.auth.issue(name, via)
        session = d.auth.session(cookie)
        log.info("dashboard login", extra={"client": address, "actor": session.actor if session else "?", "via": via})
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, cookie, max_age=SESSION_S, httponly=True, samesite="strict", path="/")
        return _headers(response)

    async def post_logout(_request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return _headers(response)

    async def index(request: Request) -> Response:
        if not dash().session(request):
            return RedirectResponse("/login", status_code=303)
        return _headers(FileResponse(STATIC / "index.html", media_type="text/html"))

    async def static(request: Request) -> Response:
        name = str(request.path_params["name"])
        allowed = {p.name for p in STATIC.iterdir() if p.is_file()}
        if name not in allowed:
            return Json({"error": "not found"}, status_code=404)
        if name not in PUBLIC_ASSETS and not dash().session(request):
            return Json({"error": "log in first"}, status_code=401)
        return _headers(FileResponse(STATIC / name))

    def api(handler: Callable[[Request, Session], Any]) -> Callable[[Request], Any]:
        """A JSON endpoint for logged-in people; POSTs also need the page's header."""

        async def wrapped(request: Request) -> Response:
            session = dash().session(request)
            if session is None:
                return _headers(Json({"error": "log in first"}, status_code=401))
            if request.method == "POST" and request.headers.get(CSRF_HEADER) != "1":
                return _headers(Json({"error": f"missing {CSRF_HEADER} header"}, status_code=403))
            return _headers(await handler(request, session))

        return wrapped

    async def snapshot(_request: Request, session: Session) -> Response:
        return Json({**dash().collector.snapshot, "user": session.name})

    async def route_detail(request: Request, _session: Session) -> Response:
        key = request.query_params.get("key", "")
        if not key:
            return Json({"error": "key is required"}, status_code=400)
        return Json(await dash().collector.route_detail(key))

    async def step(request: Request, session: Session, direction: str) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return Json({"error": "body must be a JSON object"}, status_code=400)
        target, reason = str(body.get("target") or ""), str(body.get("reason") or "")
        d = dash()
        began = time.time()
        try:
            if direction == "advance":
                result = await d.board.advance(
                    target, reason=reason, actor=session.actor, force=bool(body.get("force"))
                )
            else:
                result = await d.board.rollback(target, reason=reason, actor=session.actor)
        except StepRefused as exc:
            return Json({"error": str(exc), "gates": exc.gates}, status_code=409)
        except AdminError as exc:
            return Json({"error": f"the proxy refused: {exc}"}, status_code=502 if exc.status >= 500 else 409)
        log.info("dashboard step", extra={"actor": session.actor, "direction": direction, "target": target})
        d.collector.poke()
        await d.collector.wait_fresh(began, timeout=5.0)
        return Json(result)

    async def advance(request: Request, session: Session) -> Response:
        return await step(request, session, "advance")

    async def rollback(request: Request, session: Session) -> Response:
        return await step(request, session, "rollback")

    routes = [
        Route("/healthz", healthz),
        Route("/login", get_login, methods=["GET"]),
        Route("/login", post_login, methods=["POST"]),
        Route("/logout", post_logout, methods=["POST"]),
        Route("/", index),
        Route("/static/{name}", static),
        Route("/api/snapshot", api(snapshot)),
        Route("/api/route", api(route_detail)),
        Route("/api/advance", api(advance), methods=["POST"]),
        Route("/api/rollback", api(rollback), methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
