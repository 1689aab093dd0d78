"""The plan's HTTP API: what the dashboard reads and the steps it takes.

Everything is JSON and needs ``Authorization: Bearer <admin token>`` (the
stack's admin token: the API can move routes, so it is as sensitive as the
proxy's admin API). The answers are exactly what the CLI prints with
``--json``, from the same functions (``migration_plan.engine``,
``.inventory``, ``.parity``, ``.control``):

=======  ============================  ==============================================
GET      /api/plan/status              ``engine.plan_status`` (parity kept 5 min)
GET      /api/plan/inventory           ``Inventory.to_json`` (URLconf read once)
GET      /api/plan/history?limit=N     ``{"steps": ControlStore.steps}``
GET      /api/parity/{context}         ``ParityReport.to_json``
POST     /api/plan/advance             {target, reason, force?} -> the step; 409 + gates when refused
POST     /api/plan/rollback            {target, reason} -> the step
=======  ============================  ==============================================

Who made a step is the ``X-Strangler-Actor`` header (the dashboard sends
the logged-in user), as with the proxy's admin API.

Serve it on its own with ``python -m migration_plan.api --state-dir .strangler
--port 8020`` (reads ``endpoints.json``), or mount :func:`create_app` in the
dashboard's ASGI app. Handlers are synchronous (psycopg and httpx calls of a
few ms, parity longer): they run in Starlette's thread pool.
"""

from __future__ import annotations

import argparse
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from migration_plan import engine
from migration_plan.control import ControlStore
from migration_plan.inventory import Inventory, build_inventory, discover_routes
from migration_plan.inventory import Route as UrlRoute
from migration_plan.parity import ParityError, check_parity, context_parity
from migration_plan.plan_file import PlanError, load_plan

#: A parity check at 1M sales takes about a minute: a polling dashboard reuses it this long.
PARITY_MAX_AGE_S = 300.0


@dataclass
class PlanApi:
    """What the API needs: the plan file, the stack, a parity cache."""

    plan_file: Path
    access: engine.StackAccess
    parity_cache: engine.ParityCache = field(default_factory=lambda: engine.ParityCache(PARITY_MAX_AGE_S))
    _routes: list[UrlRoute] | None = None

    def urlconf_routes(self) -> list[UrlRoute]:
        """The monolith's routes, discovered once per process (its URLconf
        does not change while it runs)."""
        if self._routes is None:
            self._routes = discover_routes()
        return self._routes


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


Work = Callable[[Request, PlanApi, dict[str, Any]], Any]


def _handler(api: PlanApi, work: Work) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate, read the JSON body, run ``work`` in the thread pool (it
    blocks on psycopg and httpx) and map the engine's errors to statuses."""

    async def handle(request: Request) -> Response:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            return _error(401, "missing bearer token")
        if not hmac.compare_digest(given.strip().encode(), api.access.admin_token.encode()):
            return _error(403, "wrong token")
        try:
            raw = await request.body()
            data = json.loads(raw) if raw.strip() else {}
            if not isinstance(data, dict):
                raise ValueError("body must be a JSON object")
            result = await run_in_threadpool(work, request, api, data)
            return JSONResponse(json.loads(json.dumps(result, default=str)))
        except PlanError as exc:
            return _error(500, "the plan file is invalid", problems=[str(p) for p in exc.problems])
        except engine.PlanRefused as exc:
            return _error(409, str(exc), gates=[r.to_json() for r in exc.results])
        except engine.AdminError as exc:
            return _error(exc.status if exc.status < 500 else 502, f"the proxy refused: {exc}")
        except ParityError as exc:
            return _error(503, str(exc))
        except LookupError as exc:
            return _error(404, str(exc).strip("\"'"))
        except ValueError as exc:
            return _error(400, str(exc))

    return handle


def _actor(request: Request) -> str:
    return request.headers.get("x-strangler-actor", "dashboard")[:200]


def status(request: Request, api: PlanApi, _data: dict[str, Any]) -> dict[str, Any]:
    plan = load_plan(api.plan_file)
    return engine.plan_status(plan, api.access, actor=_actor(request), parity_cache=api.parity_cache)


def inventory(request: Request, api: PlanApi, _data: dict[str, Any]) -> dict[str, Any]:
    live = engine.Admin(api.access, _actor(request)).call("GET", "/_strangler/routes")["routes"]
    inv: Inventory = build_inventory(api.urlconf_routes(), load_plan(api.plan_file), live)
    return inv.to_json()


def history(request: Request, api: PlanApi, _data: dict[str, Any]) -> dict[str, Any]:
    limit = max(1, min(500, int(request.query_params.get("limit", "50"))))
    return {"steps": ControlStore(api.access.control_dsn).steps(limit)}


def parity(request: Request, api: PlanApi, _data: dict[str, Any]) -> dict[str, Any]:
    context = request.path_params["context"]
    spec = context_parity(context)
    service = api.access.service_dsns.get(context)
    if not service or not api.access.legacy_dsn:
        raise LookupError(f"no database for {context} or legacy")
    return check_parity(spec, api.access.legacy_dsn, service).to_json()


def advance(request: Request, api: PlanApi, data: dict[str, Any]) -> dict[str, Any]:
    return engine.advance(
        load_plan(api.plan_file),
        api.access,
        str(data.get("target") or ""),
        reason=str(data.get("reason") or ""),
        actor=_actor(request),
        force=bool(data.get("force")),
    )


def rollback(request: Request, api: PlanApi, data: dict[str, Any]) -> dict[str, Any]:
    return engine.rollback(
        load_plan(api.plan_file),
        api.access,
        str(data.get("target") or ""),
        reason=str(data.get("reason") or ""),
        actor=_actor(request),
    )


def create_app(api: PlanApi) -> Starlette:
    """The plan API as an ASGI app (mount it, or serve it with :func:`main`)."""
    routes = [
        Route("/api/plan/status", _handler(api, status), methods=["GET"]),
        Route("/api/plan/inventory", _handler(api, inventory), methods=["GET"]),
        Route("/api/plan/history", _handler(api, history), methods=["GET"]),
        Route("/api/parity/{context}", _handler(api, parity), methods=["GET"]),
        Route("/api/plan/advance", _handler(api, advance), methods=["POST"]),
        Route("/api/plan/rollback", _handler(api, rollback), methods=["POST"]),
    ]
    return Starlette(routes=routes)


def from_state_dir(state_dir: Path, plan_file: Path) -> PlanApi:
    """The API for the stack ``strangler up`` runs from ``state_dir``."""
    endpoints = json.loads((state_dir / "endpoints.json").read_text())
    token = (state_dir / "admin-token").read_text().strip()
    return PlanApi(plan_file, engine.StackAccess.from_endpoints(endpoints, token, state_dir))


def main() -> None:
    from new_services.platform.http import run_under_uvicorn

    parser = argparse.ArgumentParser(description="Serve the migration plan's HTTP API.")
    parser.add_argument("--state-dir", type=Path, default=Path(".strangler"))
    parser.add_argument("--plan", type=Path, default=Path("migration-plan.yaml"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8020)
    args = parser.parse_args()
    run_under_uvicorn(create_app(from_state_dir(args.state_dir, args.plan)), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
