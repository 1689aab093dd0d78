"""The board from the migration plan: ``migration_plan``'s own status, gates
and steps, so the page and ``strangler plan status/advance/rollback`` can
never disagree.

The engine is synchronous (httpx, psycopg; a parity check reads every legacy
row of a context), so each call runs in a worker thread. The status is asked
at most every ``PLAN_REFRESH_S`` (and at once after a step); parity results
are kept ``PARITY_MAX_AGE_S`` by the engine's cache, so an open page does not
run a parity check per poll. An advance never uses the cache: the engine
checks the gates on fresh figures before it moves anything.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from migration_plan import engine
from migration_plan.plan_file import PlanError, load_plan
from strangler_dashboard.admin_client import AdminError
from strangler_dashboard.board import StepRefused
from strangler_dashboard.settings import DashboardSettings, SettingsError

PLAN_REFRESH_S = 5.0
PARITY_MAX_AGE_S = 60.0


def board_from_status(status: dict[str, Any], source: str) -> dict[str, Any]:
    """``plan_status``'s answer in the board's shape: every endpoint also
    says its previous stage, and the board lists the stages in plan order
    (legacy first) for its columns. Pure."""
    stages: list[str] = [engine.LEGACY_STAGE]
    contexts = []
    for context in status.get("contexts", []):
        endpoints = []
        for e in context.get("endpoints", []):
            for name in e.get("stages") or []:
                if name not in stages:
                    stages.append(name)
            index = e.get("stage_index")
            previous = None
            if isinstance(index, int) and index >= 0:
                previous = e["stages"][index - 1] if index > 0 else engine.LEGACY_STAGE
            elif index is None:
                previous = "a plan stage"  # off-plan: rollback puts it back on the plan
            endpoints.append({**e, "previous_stage": previous})
        contexts.append({**context, "endpoints": endpoints})
    return {
        "source": source,
        "route_version": status.get("route_version"),
        "stages": stages,
        "contexts": contexts,
        "progress": status.get("progress", {}),
    }


class PlanBoard:
    """A :class:`~strangler_dashboard.board.BoardProvider` over ``migration_plan``."""

    def __init__(self, settings: DashboardSettings) -> None:
        if settings.plan_file is None:
            raise SettingsError("STRANGLER_PLAN_FILE is required for the plan's board")
        if not settings.control_database_url:
            raise SettingsError("STRANGLER_CONTROL_DATABASE_URL is required with a plan file (the plan's records)")
        self.plan_file: Path = settings.plan_file
        self.source = f"migration plan {self.plan_file.name}"
        self.access = engine.StackAccess(
            proxy_url=settings.admin_url,
            admin_token=str(settings.admin_token),
            control_dsn=str(settings.control_database_url),
            legacy_dsn=str(settings.legacy_database_url) if settings.legacy_database_url else None,
            service_dsns={name: str(url) for name, url in settings.service_database_urls.items()},
            cdc_state_dir=settings.cdc_state_dir,
        )
        self.parity = engine.ParityCache(PARITY_MAX_AGE_S)
        self._last: dict[str, Any] | None = None
        self._last_at = 0.0

    async def board(self, figures: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The plan's status (``figures`` unused: the plan's gates read their
        own window, since the stage was entered)."""
        if self._last is not None and time.monotonic() - self._last_at < PLAN_REFRESH_S:
            return self._last
        status = await asyncio.to_thread(self._call, self._status)
        self._last, self._last_at = board_from_status(status, self.source), time.monotonic()
        return self._last

    def _status(self) -> dict[str, Any]:
        return engine.plan_status(load_plan(self.plan_file), self.access, actor="dashboard", parity_cache=self.parity)

    async def advance(self, target: str, *, reason: str, actor: str, force: bool) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            plan = load_plan(self.plan_file)
            return engine.advance(plan, self.access, target, reason=reason, actor=actor, force=force)

        return await self._step(run)

    async def rollback(self, target: str, *, reason: str, actor: str) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            return engine.rollback(load_plan(self.plan_file), self.access, target, reason=reason, actor=actor)

        return await self._step(run)

    async def _step(self, run: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = await asyncio.to_thread(self._call, run)
        finally:
            self._last = None  # the next board shows the step
        return result

    @staticmethod
    def _call(run: Any) -> Any:
        """``run()`` with the engine's errors as the dashboard's."""
        try:
            return run()
        except engine.PlanRefused as exc:
            raise StepRefused(str(exc), [r.to_json() for r in exc.results]) from None
        except engine.AdminError as exc:
            raise AdminError(exc.status, str(exc)) from None
        except PlanError as exc:
            raise StepRefused(f"the plan file is invalid: {'; '.join(str(p) for p in exc.problems)}") from None
        except LookupError as exc:
            raise StepRefused(str(exc).strip("\"'")) from None
