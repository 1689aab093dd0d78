"""The board: contexts, their endpoints, each at a stage, with its gates.

Two providers behind one small interface (:class:`BoardProvider`):

- :class:`RoutesBoard` reads only the proxy: every route of its live table
  is an endpoint, grouped by the service (or the write context) it moves to;
  its stage is its mode on a fixed ladder (legacy, shadow, canary 5 %,
  canary 50 %, new). Its gates are advisory checks on the live figures
  (they colour the card, they do not block a step): without a plan there is
  no agreed threshold to enforce.
- the plan's provider (``strangler_dashboard.plan_board``) when a plan file
  is configured: stages, gates and steps are ``migration_plan``'s, so the
  page and ``strangler plan status/advance/rollback`` can never disagree.

Both return the same JSON shape, so the page does not care which is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from strangler_dashboard.admin_client import AdminClient


class StepRefused(RuntimeError):
    """A step cannot be taken; the message says why (and ``gates`` which
    gates failed, when gates refused it)."""

    def __init__(self, message: str, gates: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.gates = gates or []


class BoardProvider(Protocol):
    """What the page needs from "the plan"."""

    source: str

    async def board(self, figures: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Contexts with their endpoints, stages and gates; ``figures`` are
        the live per-route figures (route key -> window JSON)."""
        ...

    async def advance(self, target: str, *, reason: str, actor: str, force: bool) -> dict[str, Any]: ...

    async def rollback(self, target: str, *, reason: str, actor: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Rung:
    """One stage of the routes-only ladder."""

    name: str
    mode: str
    weight: int | None = None


LADDER: tuple[Rung, ...] = (
    Rung("legacy", "legacy"),
    Rung("shadow", "shadow"),
    Rung("canary-5", "canary", 5),
    Rung("canary-50", "canary", 50),
    Rung("new", "new"),
)

#: Advisory thresholds of the routes-only board (the plan file sets real ones).
ADVISORY = {"max_mismatch_rate": 0.01, "max_error_rate": 0.01, "max_p99_ratio": 1.5}


def rung_index(mode: str, weight: int | None) -> float:
    """Where a route's mode sits on the ladder; a canary at another weight
    sits between the rungs around it (so advance goes to the next rung up)."""
    for i, rung in enumerate(LADDER):
        if rung.mode == mode and (rung.weight is None or rung.weight == weight):
            return float(i)
    if mode == "canary":
        w = weight or 0
        return 1.5 if w < 5 else (2.5 if w < 50 else 3.5)
    if mode == "retired":
        return float(len(LADDER))
    return 0.0


def stage_label(mode: str, weight: int | None) -> str:
    index = rung_index(mode, weight)
    if index.is_integer() and index < len(LADDER):
        return LADDER[int(index)].name
    return "retired" if mode == "retired" else f"canary-{weight}"


def step_target(mode: str, weight: int | None, direction: int) -> Rung | None:
    """The rung one step up (``direction`` 1) or down (-1), None at an end."""
    index = rung_index(mode, weight)
    if direction > 0:
        up = [r for i, r in enumerate(LADDER) if i > index]
        return up[0] if up else None
    down = [r for i, r in enumerate(LADDER) if i < index]
    return down[-1] if down else None


def advisory_gates(mode: str, window: dict[str, Any] | None, service: str | None) -> list[dict[str, Any]]:
    """Checks of the live figures that matter at ``mode``: in shadow the
    mismatch rate, with new traffic its error rate and p99 against legacy.
    A figure not measured yet fails (it must never look green). Pure."""
    if mode not in ("shadow", "canary", "new") or not service:
        return []
    window = window or {}
    if mode == "shadow":
        rate = window.get("mismatch_rate")
        return [_gate("max_mismatch_rate", rate, ADVISORY["max_mismatch_rate"], "no comparison yet")]
    upstreams = window.get("upstreams") or {}
    new, legacy = upstreams.get(service) or {}, upstreams.get("legacy") or {}
    gates = [_gate("max_error_rate", new.get("error_rate"), ADVISORY["max_error_rate"], "no new traffic yet")]
    ratio = None
    if new.get("p99_ms") is not None and legacy.get("p99_ms"):
        ratio = round(float(new["p99_ms"]) / float(legacy["p99_ms"]), 3)
    gates.append(_gate("max_p99_ratio", ratio, ADVISORY["max_p99_ratio"], "needs new and legacy traffic"))
    return gates


def _gate(name: str, figure: float | None, threshold: float, unknown: str) -> dict[str, Any]:
    passed = figure is not None and figure <= threshold
    return {
        "gate": name,
        "figure": figure,
        "threshold": threshold,
        "passed": passed,
        "detail": "" if figure is not None else unknown,
    }


def context_of(route: dict[str, Any]) -> str:
    """A route's bounded context on the routes-only board: its write context,
    else the service it moves to, else "monolith only"."""
    return str(route.get("writes") or route.get("service") or "monolith only")


class RoutesBoard:
    """The board from the proxy's live route table alone."""

    source = "proxy routes (no plan file: gates are advisory)"

    def __init__(self, admin: AdminClient) -> None:
        self.admin = admin

    async def board(self, figures: dict[str, dict[str, Any]]) -> dict[str, Any]:
        live = await self.admin.get("/_strangler/routes")
        contexts: dict[str, list[dict[str, Any]]] = {}
        for route in live.get("routes", []):
            contexts.setdefault(context_of(route), []).append(self._endpoint(route, figures.get(str(route["key"]))))
        endpoints = [e for eps in contexts.values() for e in eps]
        return {
            "source": self.source,
            "route_version": live.get("version"),
            "live_version": live.get("live_version"),
            "stages": [r.name for r in LADDER] + ["retired"],
            "contexts": [{"name": name, "service": None, "endpoints": eps} for name, eps in sorted(contexts.items())],
            "progress": {
                "migrated": sum(1 for e in endpoints if e["mode"] in ("new", "retired")),
                "planned": sum(1 for e in endpoints if e["service"]),
                "endpoints": len(endpoints),
            },
        }

    @staticmethod
    def _endpoint(route: dict[str, Any], window: dict[str, Any] | None) -> dict[str, Any]:
        mode, weight, service = str(route["mode"]), route.get("weight"), route.get("service")
        up, down = step_target(mode, weight, 1), step_target(mode, weight, -1)
        gates = advisory_gates(mode, window, service)
        return {
            "id": str(route["key"]),
            "route": str(route["key"]),
            "live_route": str(route["key"]),
            "service": service,
            "writes": route.get("writes"),
            "mode": mode,
            "weight": weight if mode == "canary" else None,
            "stage": stage_label(mode, weight),
            "next_stage": up.name if up and service else None,
            "previous_stage": down.name if down else None,
            "gates": gates,
            "gates_passed": all(g["passed"] for g in gates) if gates else None,
        }

    async def _step(self, target: str, direction: int, reason: str, actor: str) -> dict[str, Any]:
        if not reason.strip():
            raise StepRefused("a reason is required")
        live = await self.admin.get("/_strangler/routes")
        route = next((r for r in live.get("routes", []) if r["key"] == target), None)
        if route is None:
            raise StepRefused(f"no live route {target}")
        if direction > 0 and not route.get("service"):
            raise StepRefused(f"{target} names no new service to move to")
        rung = step_target(str(route["mode"]), route.get("weight"), direction)
        if rung is None:
            raise StepRefused(f"{target} is at the {'last' if direction > 0 else 'first'} stage")
        word = "advance" if direction > 0 else "rollback"
        text = f"dashboard {word} {target} {stage_label(str(route['mode']), route.get('weight'))} -> {rung.name}: {reason.strip()}"
        body = {
            "route": target,
            "mode": rung.mode,
            "weight": rung.weight,
            "service": route.get("service"),
            "reason": text,
        }
        answer = await self.admin.post("/_strangler/routes/set", body, actor=actor)
        return {"endpoint": target, "to_stage": rung.name, "version": answer.get("version"), "reason": text}

    async def advance(self, target: str, *, reason: str, actor: str, force: bool) -> dict[str, Any]:
        """One rung up. Not gated (advisory gates only): ``force`` changes nothing."""
        return await self._step(target, 1, reason, actor)

    async def rollback(self, target: str, *, reason: str, actor: str) -> dict[str, Any]:
        return await self._step(target, -1, reason, actor)
