"""The admin API under ``/_strangler/`` (served by the proxy itself).

``GET /_strangler/health`` and ``GET /_strangler/metrics`` are open; every
other endpoint needs ``Authorization: Bearer <STRANGLER_ADMIN_TOKEN>``,
compared in constant time. Who made a change is taken from the
``X-Strangler-Actor`` header (the CLI sends user@host); the token proves the
right to change, the actor is recorded for the audit log.

Endpoints (JSON in and out):

=======  ===============================  =====================================
GET      /_strangler/routes               live table + version
PUT      /_strangler/routes               replace the table {table, reason, dry_run, if_version?}
POST     /_strangler/routes/set           {route, mode, weight?, service?, reason}
POST     /_strangler/routes/writes        {context, mode, service?, reason}: flip a context's write routes
GET      /_strangler/routes/history       ?limit=N
POST     /_strangler/routes/rollback      {to?: version, reason}
GET      /_strangler/diffs                ?route=KEY&limit=N recent mismatches
GET      /_strangler/status               breakers, shadow noise, counters
GET      /_strangler/owners               who writes each context (strangler_write_owners)
=======  ===============================  =====================================

A thin adapter: it authenticates, parses JSON, turns each change into a
route command (``route_commands``) and maps the command's exceptions to
HTTP statuses. The rules of a change live in ``RouteCommands``.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg

from strangler_proxy.route_commands import ApplyTable, RollBack, RouteCommands, SetRoute, SetWrites, parse_mode
from strangler_proxy.route_repository import MismatchLog, RouteRepository, Unchanged, VersionConflict
from strangler_proxy.routing import TableError

log = logging.getLogger("strangler_proxy.admin")

JSON = b"application/json"
Response = tuple[int, bytes, bytes]


def _json(status: int, payload: Any) -> Response:
    return status, json.dumps(payload, default=str).encode(), JSON


class AdminApi:
    def __init__(
        self,
        *,
        token: str,
        commands: RouteCommands,
        routes: RouteRepository,
        mismatches: MismatchLog,
        live_version: Callable[[], int],
        metrics_text: Callable[[], str],
        status: Callable[[], dict[str, Any]],
    ) -> None:
        self._token = token.encode()
        self.commands = commands
        self.routes = routes
        self.mismatches = mismatches
        self.live_version = live_version
        self.metrics_text = metrics_text
        self.status = status

    def _authorised(self, headers: list[tuple[bytes, bytes]]) -> int:
        """0 ok, 401 missing, 403 wrong."""
        for name, value in headers:
            if name.lower() == b"authorization":
                scheme, _, given = value.strip().partition(b" ")
                if scheme.lower() != b"bearer" or not given:
                    return 401
                return 0 if hmac.compare_digest(given.strip(), self._token) else 403
        return 401

    @staticmethod
    def _actor(headers: list[tuple[bytes, bytes]]) -> str:
        for name, value in headers:
            if name.lower() == b"x-strangler-actor":
                return value.decode("utf-8", "replace")[:200]
        return "admin-api"

    async def handle(self, method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> Response:
        url = urlsplit(target.decode("latin-1"))
        path = url.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if path == "/_strangler/health" and method in ("GET", "HEAD"):
            return _json(200, {"status": "ok", "version": self.live_version(), "pid": os.getpid()})
        if path == "/_strangler/metrics" and method == "GET":
            return 200, self.metrics_text().encode(), b"text/plain; version=0.0.4; charset=utf-8"
        auth = self._authorised(headers)
        if auth:
            log.warning("admin API refused", extra={"path": path, "status": auth})
            msg = "missing bearer token" if auth == 401 else "wrong token"
            return _json(auth, {"error": msg})
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            return _json(400, {"error": "body must be JSON"})
        if not isinstance(data, dict):
            return _json(400, {"error": "body must be a JSON object"})
        actor = self._actor(headers)
        try:
            return await self._dispatch(method, path, query, data, actor)
        except TableError as exc:
            return _json(422, {"error": "table refused; the live table is unchanged", "problems": exc.problems})
        except Unchanged as exc:
            return _json(409, {"error": str(exc)})
        except VersionConflict as exc:
            return _json(409, {"error": str(exc), "live_version": exc.live})
        except LookupError as exc:
            return _json(404, {"error": str(exc)})
        except ValueError as exc:
            return _json(400, {"error": str(exc)})
        except (psycopg.Error, OSError) as exc:
            # Traffic keeps flowing on the live table; only changes wait.
            log.error("control database unavailable", extra={"error": str(exc).splitlines()[0] if str(exc) else ""})
            return _json(503, {"error": "control database unavailable; the live table is unchanged"})

    async def _dispatch(
        self, method: str, path: str, query: dict[str, str], data: dict[str, Any], actor: str
    ) -> Response:
        reason = str(data.get("reason") or "")
        if path == "/_strangler/routes" and method == "GET":
            latest = await self.routes.latest()
            table = self.commands.validate(latest.spec)
            return _json(
                200,
                {
                    "version": latest.version,
                    "live_version": self.live_version(),
                    "routes": [r.to_spec() | {"key": r.key} for r in table.routes],
                    "spec": latest.spec,
                },
            )
        if path == "/_strangler/routes" and method == "PUT":
            if data.get("dry_run"):
                return _json(200, await self.commands.preview(data.get("table")))
            changed = await self.commands.handle(ApplyTable(data.get("table"), actor, reason, _if_version(data)))
            return _json(200, changed.to_json())
        if path == "/_strangler/routes/set" and method == "POST":
            command = SetRoute(
                str(data.get("route") or ""),
                parse_mode(data.get("mode")),
                actor,
                reason,
                weight=data.get("weight"),
                service=data.get("service"),
            )
            return _json(200, (await self.commands.handle(command)).to_json())
        if path == "/_strangler/routes/writes" and method == "POST":
            flip = SetWrites(
                str(data.get("context") or ""), parse_mode(data.get("mode")), actor, reason, service=data.get("service")
            )
            return _json(200, (await self.commands.handle(flip)).to_json())
        if path == "/_strangler/routes/history" and method == "GET":
            limit = max(1, min(500, int(query.get("limit", "20"))))
            versions = await self.routes.history(limit)
            return _json(200, {"live_version": self.live_version(), "versions": [v.to_json() for v in versions]})
        if path == "/_strangler/routes/rollback" and method == "POST":
            to = data.get("to")
            return _json(200, (await self.commands.handle(RollBack(actor, reason, to))).to_json())
        if path == "/_strangler/diffs" and method == "GET":
            limit = max(1, min(200, int(query.get("limit", "20"))))
            rows = await self.mismatches.mismatches(query.get("route") or None, limit)
            return _json(200, {"mismatches": rows, "counts": await self.mismatches.mismatch_counts()})
        if path == "/_strangler/owners" and method == "GET":
            owners = await self.routes.owners()
            return _json(200, {"owners": [o.to_json() for o in owners], "default": "legacy"})
        if path == "/_strangler/status" and method == "GET":
            return _json(200, self.status())
        return _json(404, {"error": f"no admin endpoint {method} {path}"})


def _if_version(data: dict[str, Any]) -> int | None:
    """``if_version`` of a body: a version number, or absent."""
    value = data.get("if_version")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("if_version must be a route version number")
    return value
