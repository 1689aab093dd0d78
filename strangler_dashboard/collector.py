"""Gathers what the page shows, on a timer, so browsers only read a cache.

One loop per process: every ``sample_s`` it samples the proxy's metrics
into the :class:`~strangler_dashboard.series.History`, asks the board
provider for the board (with the live figures of the last five minutes),
reads the audit log and the mismatch counts; a second loop reads the CDC
pipeline every few seconds (blocking I/O, in a worker thread). Many open
pages therefore cost the stack nothing more than one. A step taken on the page asks for a
refresh at once (:meth:`Collector.poke`), so the board shows its result
without waiting for the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from strangler_dashboard.admin_client import AdminClient, AdminError
from strangler_dashboard.board import BoardProvider
from strangler_dashboard.pipeline import PipelineReader
from strangler_dashboard.prometheus import parse
from strangler_dashboard.series import History, Sample, timeline, window_figures

log = logging.getLogger("strangler_dashboard")

#: The span of the per-route figures shown on cards and fed to advisory gates.
WINDOW_S = 300.0
#: Audit entries shown.
AUDIT_LIMIT = 50
#: Seconds between two reads of the pipeline (it asks the broker and databases).
PIPELINE_S = 5.0


def is_auto_rollback(version: dict[str, Any]) -> bool:
    """An audit entry made by the proxy's own limit watcher."""
    return version.get("kind") == "auto-rollback" or "(auto-rollback)" in str(version.get("actor", ""))


def traffic_share(windows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Requests per upstream over every route in the window, and the share
    answered by new services (neither legacy nor retired). Pure."""
    by_upstream: dict[str, int] = {}
    for window in windows.values():
        for upstream, figures in window["upstreams"].items():
            by_upstream[upstream] = by_upstream.get(upstream, 0) + int(figures["requests"])
    total = sum(n for u, n in by_upstream.items() if u != "retired")
    new = sum(n for u, n in by_upstream.items() if u not in ("legacy", "retired"))
    return {
        "requests": total,
        "served_by_new": new,
        "share_new": round(new / total, 4) if total else None,
        "by_upstream": by_upstream,
    }


#: Bodies of a mismatch are cut to this many characters for the page.
BODY_CHARS = 4000


def trim_mismatch(row: dict[str, Any]) -> dict[str, Any]:
    """A mismatch as the page shows it: both bodies cut short (a body can be
    a megabyte), differences kept whole (they are what a person reads)."""
    out = {k: v for k, v in row.items() if k not in ("legacy_body", "new_body")}
    for side in ("legacy_body", "new_body"):
        body = str(row.get(side) or "")
        out[side] = body if len(body) <= BODY_CHARS else body[:BODY_CHARS] + "\u2026"
    return out


async def _until(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, less if ``stop`` or ``wake`` is set meanwhile."""
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()


class Collector:
    def __init__(
        self,
        *,
        admin: AdminClient,
        board: BoardProvider,
        pipeline: PipelineReader | None,
        sample_s: float,
        history: History | None = None,
    ) -> None:
        self.admin = admin
        self.board = board
        self.pipeline = pipeline
        self.sample_s = sample_s
        self.history = history or History()
        self._snapshot: dict[str, Any] = {"ready": False}
        self._pipeline: dict[str, Any] | None = None
        self._wake = asyncio.Event()
        self._fresh = asyncio.Condition()

    @property
    def snapshot(self) -> dict[str, Any]:
        return self._snapshot

    def poke(self) -> None:
        """Refresh now (after a step taken on the page)."""
        self._wake.set()

    async def wait_fresh(self, after: float, timeout: float) -> None:
        """Until a snapshot whose gathering began after ``after`` exists (so
        it shows a step taken at ``after``), or ``timeout``."""
        async with self._fresh:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._fresh.wait_for(lambda: float(self._snapshot.get("started_at") or 0) > after), timeout
                )

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh until ``stop``; one failing source never ends the loop.
        The pipeline is read by a loop of its own: its broker and database
        timeouts must not stretch the interval between metric samples."""
        pipeline = asyncio.create_task(self._read_pipeline(stop)) if self.pipeline is not None else None
        try:
            while not stop.is_set():
                self._wake.clear()  # before gathering: a poke during it asks for one more
                try:
                    await self.refresh()
                except Exception:
                    log.exception("dashboard refresh failed")
                await _until(stop, self._wake, self.sample_s)
        finally:
            if pipeline is not None:
                pipeline.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pipeline

    async def _read_pipeline(self, stop: asyncio.Event) -> None:
        assert self.pipeline is not None
        while not stop.is_set():
            try:
                self._pipeline = await asyncio.to_thread(self.pipeline.read)
            except Exception:
                log.exception("dashboard pipeline read failed")
            await _until(stop, asyncio.Event(), PIPELINE_S)

    async def refresh(self) -> None:
        started = time.time()
        errors: list[str] = []
        try:
            self.history.add(Sample(time.time(), parse(await self.admin.metrics_text())))
        except AdminError as exc:
            errors.append(f"metrics: {exc}")
        seconds, windows = window_figures(self.history.samples(), WINDOW_S)
        figures = {key: w.to_json(seconds) for key, w in windows.items()}
        board = await self._guard(errors, "board", self.board.board(figures))
        audit = await self._guard(errors, "audit", self.admin.get("/_strangler/routes/history", limit=AUDIT_LIMIT))
        diffs = await self._guard(errors, "diffs", self.admin.get("/_strangler/diffs", limit=1))
        status = await self._guard(errors, "status", self.admin.get("/_strangler/status"))
        versions = (audit or {}).get("versions", [])
        async with self._fresh:
            self._snapshot = {
                "ready": True,
                "started_at": started,
                "at": time.time(),
                "sample_s": self.sample_s,
                "window_s": round(seconds, 1),
                "board": board,
                "routes": figures,
                "traffic": traffic_share(figures),
                "mismatch_counts": (diffs or {}).get("counts", {}),
                "breakers": (status or {}).get("breakers", {}),
                "live_version": (audit or {}).get("live_version"),
                "audit": [{**v, "auto": is_auto_rollback(v)} for v in versions],
                "pipeline": self._pipeline,
                "errors": errors,
            }
            self._fresh.notify_all()

    @staticmethod
    async def _guard(errors: list[str], what: str, call: Any) -> Any:
        try:
            return await call
        except AdminError as exc:
            errors.append(f"{what}: {exc}")
        except Exception as exc:  # a provider's bug must not blank the page
            log.exception("dashboard source failed", extra={"source": what})
            errors.append(f"{what}: {type(exc).__name__}: {str(exc)[:200]}")
        return None

    async def route_detail(self, key: str, *, diffs: int = 5) -> dict[str, Any]:
        """One route's timeline (the charts) and its latest field-level diffs."""
        points = []
        for point in timeline(self.history.samples()):
            window = point["routes"].get(key)
            points.append(
                {"at": point["at"], "seconds": point["seconds"], **(window or {"upstreams": {}, "shadow": {}})}
            )
        try:
            rows = (await self.admin.get("/_strangler/diffs", route=key, limit=diffs)).get("mismatches", [])
            mismatches = [trim_mismatch(row) for row in rows]
        except AdminError as exc:
            mismatches = [{"error": str(exc)}]
        return {
            "route": key,
            "timeline": points,
            "window": self._snapshot.get("routes", {}).get(key),
            "diffs": mismatches,
        }
