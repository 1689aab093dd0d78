"""Plan status, advance and rollback against a running stack.

The proxy's live route table is the truth of where each endpoint is: an
endpoint's stage is the plan stage whose mode (and canary weight, and
fallback when the stage names one) its live route has; no route, or mode
``legacy``, is before the first stage. Every step is a change of the route
table through the proxy's admin API (``/_strangler/routes/set`` when only the
mode, weight or service changes, as ``strangler routes set`` does; a whole
table ``PUT`` when route options or a context's write routes change), so
every step is a route version in the audit log, with the actor and a reason
that says ``plan advance``/``plan rollback`` (and ``FORCED`` with the failed
gates when forced). The plan's own record of the step goes to
``strangler_plan_steps`` and the stage's counter baseline to
``strangler_plan_baselines`` (``migration_plan.control``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from acl.relay_status import read_status
from migration_plan.control import ControlStore, Step
from migration_plan.figures import (
    LEGACY,
    RouteCounters,
    Sample,
    figures,
    parse_prometheus,
    route_counters,
    since,
    upstream_totals,
)
from migration_plan.gates import ContextFigures, GateResult, all_passed, evaluate
from migration_plan.parity import CONTEXTS, ParityError, check_parity
from migration_plan.plan_file import Endpoint, Plan, Stage, _shape
from strangler_proxy.routing import Mode, parse_route_key

LEGACY_STAGE = "legacy"
#: A relay status older than this means the relay stopped reporting.
RELAY_STALE_S = 10.0
#: A live change relayed longer ago than this no longer says how far behind the relay is.
LAG_WINDOW_S = 60.0
TRAFFIC_WINDOW_S = 3600.0


class PlanRefused(RuntimeError):
    """A step was refused; ``results`` has the gates when gates refused it."""

    def __init__(self, message: str, results: list[GateResult] | None = None) -> None:
        super().__init__(message)
        self.results = results or []


class AdminError(RuntimeError):
    """The proxy's admin API answered an error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


@dataclass(frozen=True)
class StackAccess:
    """Where the stack's parts are (from ``endpoints.json`` or the environment).
    ``proxy_url`` is where the proxy's admin API and metrics answer: its admin
    listener (``proxy_admin`` in ``endpoints.json``) where it has one, else
    the proxy's own port."""

    proxy_url: str
    admin_token: str
    control_dsn: str
    legacy_dsn: str | None = None
    service_dsns: dict[str, str] = field(default_factory=dict)
    cdc_state_dir: Path | None = None
    transport: httpx.BaseTransport | None = None

    @classmethod
    def from_endpoints(
        cls, endpoints: Mapping[str, Any], admin_token: str, state_dir: Path | None = None
    ) -> StackAccess:
        databases = dict(endpoints.get("databases") or {})
        admin_url = os.environ.get("STRANGLER_PROXY_ADMIN_URL") or endpoints.get("proxy_admin") or endpoints["proxy"]
        return cls(
            proxy_url=str(admin_url).rstrip("/"),
            admin_token=admin_token,
            control_dsn=str(databases["control"]),
            legacy_dsn=databases.get("legacy"),
            service_dsns={k: v for k, v in databases.items() if k not in ("legacy", "control")},
            cdc_state_dir=state_dir / "cdc" if state_dir is not None else None,
        )


class Admin:
    """The few admin API calls the plan makes."""

    def __init__(self, access: StackAccess, actor: str) -> None:
        self.access = access
        self.actor = actor

    def _client(self) -> httpx.Client:
        headers = {"authorization": f"Bearer {self.access.admin_token}", "x-strangler-actor": self.actor}
        return httpx.Client(
            base_url=self.access.proxy_url, headers=headers, timeout=15.0, transport=self.access.transport
        )

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        with self._client() as client:
            r = client.request(method, path, json=body)
        try:
            data = r.json()
        except ValueError:
            data = {"error": r.text}
        if r.status_code >= 400:
            problems = "".join(f"\n  - {p}" for p in data.get("problems", []))
            raise AdminError(r.status_code, str(data.get("error", r.text)) + problems)
        return dict(data)

    def metrics(self) -> list[Sample]:
        with self._client() as client:
            r = client.get("/_strangler/metrics")
        r.raise_for_status()
        return parse_prometheus(r.text)


# -- where each endpoint is ----------------------------------------------------------------------


def live_route(endpoint: Endpoint, live: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The live route serving ``endpoint`` (same path shape, shared methods)."""
    shape = _shape(endpoint.path)
    for r in live:
        methods, path = parse_route_key(str(r["key"]))
        if _shape(path) == shape and methods & endpoint.methods:
            return r
    return None


def stage_index(endpoint: Endpoint, route: Mapping[str, Any] | None) -> int | None:
    """-1 before the first stage (legacy), the stage's index, or None when
    the live route is at no stage of the plan (changed by hand)."""
    if route is None or route.get("mode") == Mode.LEGACY.value:
        return -1
    weight = route.get("weight")
    fallback = bool(route.get("fallback", True))
    matching = [i for i, s in enumerate(endpoint.stages) if s.matches(str(route["mode"]), weight, fallback)]
    return matching[-1] if matching else None


def stage_name(endpoint: Endpoint, index: int | None, route: Mapping[str, Any] | None) -> str:
    if index is None:
        extra = f" {route.get('weight')}%" if route and route.get("mode") == "canary" else ""
        return f"off-plan ({route.get('mode') if route else '?'}{extra})"
    return LEGACY_STAGE if index < 0 else endpoint.stages[index].name


# -- figures ---------------------------------------------------------------------------------------


def cdc_lag(state_dir: Path | None, tables: tuple[str, ...], now_ms: float | None = None) -> tuple[float | None, str]:
    """The CDC lag of ``tables`` in seconds, and how it was measured.

    From the relay's status file (``acl.relay_status``), per table, the time
    between a change's commit and its relay to Kafka:

    - while the snapshot runs, the latest row's delay (how far the snapshot
      got behind its start);
    - once streaming, the delay of the latest live change relayed in the
      last ``LAG_WINDOW_S``; a table with no such change (quiet, or known
      only from the snapshot) is not behind, since the relay is streaming
      and its status is fresh. A snapshot row's delay measures how long the
      snapshot took, never the lag of the stream, so it is not kept forever
      against a quiet table;
    - if the relay stopped reporting, how long ago it last did, added (the
      lag grows from then on).

    None when there is no status to read."""
    status = read_status(state_dir) if state_dir is not None else None
    if status is None:
        return None, "no relay status (is the CDC relay running?)"
    now_ms = time.time() * 1000 if now_ms is None else now_ms
    age_s = max(0.0, (now_ms - float(status["relay"]["updated_at_ms"])) / 1000)
    snapshotting = status["relay"].get("state") == "snapshotting"
    lags = [_table_lag(status["tables"].get(table) or {}, snapshotting, now_ms) for table in tables]
    latest = max((lag for lag in lags if lag is not None), default=0.0)
    if age_s > RELAY_STALE_S:
        return age_s + latest, f"relay status {age_s:.0f} s old (relay {status['relay'].get('state')})"
    if snapshotting:
        return latest, f"snapshot of {', '.join(tables)} running, latest row relayed {latest:.3f} s after its start"
    if all(lag is None for lag in lags):
        return 0.0, f"no change of {', '.join(tables)} in the last {LAG_WINDOW_S:.0f} s; relay streaming"
    return latest, f"latest change of {', '.join(tables)} relayed {latest:.3f} s after its commit"


def _table_lag(entry: Mapping[str, Any], snapshotting: bool, now_ms: float) -> float | None:
    """One table's delay (see ``cdc_lag``), or None when it has nothing recent to measure."""
    relayed, source = entry.get("last_relayed_at_ms"), entry.get("last_source_ts_ms")
    if relayed is None or source is None:
        return None
    delay = max(0.0, (float(relayed) - float(source)) / 1000)
    if snapshotting:
        return delay
    if entry.get("snapshot") != "streaming" or now_ms - float(relayed) > LAG_WINDOW_S * 1000:
        return None
    return delay


class ParityCache:
    """Parity results kept for ``max_age_s``: a parity check reads every
    legacy sale (tens of seconds at 1M), so a dashboard polling the status
    must not run one per poll. ``advance`` never uses a cache."""

    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self._results: dict[str, tuple[float, int | None, str]] = {}

    def get(self, context: str) -> tuple[int | None, str] | None:
        found = self._results.get(context)
        if found is None or time.monotonic() - found[0] > self.max_age_s:
            return None
        return found[1], found[2] + f" (checked {time.monotonic() - found[0]:.0f} s ago)"

    def put(self, context: str, differences: int | None, detail: str) -> None:
        self._results[context] = (time.monotonic(), differences, detail)


class Figures:
    """Figures gathered once per status run, shared by every endpoint."""

    def __init__(
        self, access: StackAccess, admin: Admin, control: ControlStore, parity_cache: ParityCache | None = None
    ) -> None:
        self.access = access
        self.samples = admin.metrics()
        self.baselines = control.baselines()
        self._parity: dict[str, ContextFigures] = {}
        self._cache = parity_cache

    def counters(self, route_key: str) -> RouteCounters:
        return route_counters(self.samples, route_key)

    def context(self, name: str, need_parity: bool) -> ContextFigures:
        """CDC lag of the context's legacy tables, and parity when a gate needs it."""
        cached = self._parity.get(name)
        if cached is not None and (cached.parity_differences is not None or not need_parity):
            return cached
        spec = CONTEXTS.get(name)
        lag, detail = cdc_lag(self.access.cdc_state_dir, spec.legacy_tables if spec else ())
        differences: int | None = None
        parity_detail = "" if spec else f"no parity check for {name}"
        if need_parity and spec is not None:
            differences, parity_detail = self._run_parity(name)
        out = ContextFigures(lag, detail, differences, parity_detail)
        self._parity[name] = out
        return out

    def _run_parity(self, name: str) -> tuple[int | None, str]:
        cached = self._cache.get(name) if self._cache is not None else None
        if cached is not None:
            return cached
        differences, detail = self._check_parity(name)
        if self._cache is not None:
            self._cache.put(name, differences, detail)
        return differences, detail

    def _check_parity(self, name: str) -> tuple[int | None, str]:
        dsn = self.access.service_dsns.get(name)
        if not dsn or not self.access.legacy_dsn:
            return None, f"no database for {name} or legacy in endpoints.json"
        try:
            report = check_parity(CONTEXTS[name], self.access.legacy_dsn, dsn, max_listed=5)
        except ParityError as exc:
            return None, str(exc)
        counts = "" if report.legacy == report.service else f"; counts legacy {report.legacy} vs {report.service}"
        differing = report.differing + (0 if report.legacy == report.service else 1)
        return differing, f"{report.differing} of {report.compared} {report.aggregate}s differ{counts}"


def endpoint_status(endpoint: Endpoint, live: list[dict[str, Any]], figs: Figures) -> dict[str, Any]:
    """One endpoint: stage, next stage, the current stage's gates with figures."""
    route = live_route(endpoint, live)
    index = stage_index(endpoint, route)
    out: dict[str, Any] = {
        "id": endpoint.id,
        "context": endpoint.context,
        "route": endpoint.route,
        "service": endpoint.service,
        "writes": endpoint.writes,
        "live_route": route["key"] if route else None,
        "mode": route["mode"] if route else "legacy",
        "weight": route.get("weight") if route and route["mode"] == "canary" else None,
        "stage": stage_name(endpoint, index, route),
        "stage_index": index,
        "stages": [s.name for s in endpoint.stages],
        "next_stage": _next_name(endpoint, index),
        "migrated": index is not None and index >= 0 and endpoint.stages[index].mode is Mode.NEW,
        "gates": [],
        "gates_passed": None,
        "window": None,
        "figures": None,
    }
    if route is None or index is None or index < 0 or not endpoint.migrates:
        return out
    stage = endpoint.stages[index]
    results, window, route_figures = _gates_of(endpoint, stage, str(route["key"]), figs)
    out.update(
        gates=[r.to_json() for r in results],
        gates_passed=all_passed(results),
        window=window,
        figures=route_figures,
    )
    return out


def _next_name(endpoint: Endpoint, index: int | None) -> str | None:
    if index is None or index + 1 >= len(endpoint.stages):
        return None
    return endpoint.stages[index + 1].name


def _gates_of(
    endpoint: Endpoint, stage: Stage, route_key: str, figs: Figures
) -> tuple[list[GateResult], dict[str, Any], dict[str, Any]]:
    baseline = figs.baselines.get(route_key)
    usable = baseline is not None and baseline.stage == stage.name
    counters = since(figs.counters(route_key), baseline.counters if usable and baseline else None)
    route_figures = figures(counters, endpoint.service)
    window = (
        {"since": baseline.taken_at.isoformat(), "from": "stage entered"}
        if usable and baseline
        else {"since": None, "from": "proxy start (no baseline for this stage)"}
    )
    context = figs.context(endpoint.context, bool(stage.gates.get("parity")))
    return evaluate(stage.gates, route_figures, context), window, route_figures.to_json()


def traffic_share(figs: Figures, control: ControlStore) -> dict[str, Any]:
    """Share of requests answered by new services over the last hour (since
    the oldest sample of that hour; since the proxy started when there is none)."""
    now = {k: v for k, v in upstream_totals(figs.samples).items() if k != "retired"}
    old = control.oldest_sample_since(TRAFFIC_WINDOW_S)
    control.add_sample(now)
    window_from: str | None = None
    delta = now
    if old is not None and all(now.get(k, 0.0) >= v for k, v in old[0].items()):
        delta = {k: v - old[0].get(k, 0.0) for k, v in now.items()}
        window_from = old[1].isoformat()
    total = sum(delta.values())
    new = sum(v for k, v in delta.items() if k != LEGACY)
    return {
        "since": window_from,
        "from": "oldest sample of the last hour" if window_from else "proxy start",
        "requests": int(total),
        "served_by_new": int(new),
        "share_new": (new / total) if total else None,
        "by_upstream": {k: int(v) for k, v in sorted(delta.items())},
    }


def plan_status(
    plan: Plan, access: StackAccess, *, actor: str = "plan-status", parity_cache: ParityCache | None = None
) -> dict[str, Any]:
    """Everything ``strangler plan status`` shows (and the dashboard reads)."""
    admin = Admin(access, actor)
    control = ControlStore(access.control_dsn)
    live = admin.call("GET", "/_strangler/routes")
    figs = Figures(access, admin, control, parity_cache)
    contexts: list[dict[str, Any]] = []
    for context in plan.contexts:
        eps = [endpoint_status(e, live["routes"], figs) for e in context.endpoints]
        contexts.append({"name": context.name, "service": context.service, "endpoints": eps})
    planned = [e for c in contexts for e in c["endpoints"] if e["stages"]]
    return {
        "plan": plan.source,
        "route_version": live["version"],
        "contexts": contexts,
        "progress": {
            "migrated": sum(1 for e in planned if e["migrated"]),
            "planned": len(planned),
            "endpoints": sum(len(c["endpoints"]) for c in contexts),
            "traffic": traffic_share(figs, control),
        },
    }


# -- steps -----------------------------------------------------------------------------------------


def _route_entry(endpoint: Endpoint, stage: Stage | None, current: Mapping[str, Any] | None) -> dict[str, Any]:
    """The route table entry that puts ``endpoint`` at ``stage`` (None: legacy)."""
    methods, path = parse_route_key(endpoint.route)
    entry: dict[str, Any] = {k: v for k, v in (current or {}).items() if k != "key"}
    entry.update(methods=sorted(methods), path=path, **endpoint.options)
    if endpoint.service:
        entry["service"] = endpoint.service
    if endpoint.writes:
        entry["writes"] = endpoint.writes
    if stage is None:
        entry["mode"] = Mode.LEGACY.value
        entry.pop("weight", None)
        return entry
    entry["mode"] = stage.mode.value
    if stage.mode is Mode.CANARY:
        entry["weight"] = stage.weight
    else:
        entry.pop("weight", None)
    if stage.fallback is not None:
        entry["fallback"] = stage.fallback
    elif "fallback" in endpoint.options:
        entry["fallback"] = endpoint.options["fallback"]
    else:
        entry["fallback"] = True
    return entry


def _group(plan: Plan, endpoint: Endpoint) -> list[Endpoint]:
    """The endpoints that move together: a context's write routes, else itself."""
    if endpoint.writes:
        return [e for e in plan.endpoints if e.writes == endpoint.writes]
    return [endpoint]


def _apply(
    admin: Admin, plan: Plan, endpoint: Endpoint, to_index: int, live: dict[str, Any], reason: str
) -> dict[str, Any]:
    """Put ``endpoint`` (and its write group) at stage ``to_index`` (-1: legacy)
    in one route version; returns the admin API's answer."""
    routes = [{k: v for k, v in r.items() if k != "key"} for r in live["routes"]]
    group = _group(plan, endpoint)
    simple = len(group) == 1
    for member in group:
        current = live_route(member, live["routes"])
        stage = member.stages[to_index] if to_index >= 0 else None
        wanted = _route_entry(member, stage, current)
        if current is None:
            simple = False
            routes.append(wanted)
            continue
        current_entry = {k: v for k, v in current.items() if k != "key"}
        changed = {k for k in set(wanted) | set(current_entry) if wanted.get(k) != current_entry.get(k)}
        if not changed <= {"mode", "weight", "service"}:
            simple = False
        routes = [wanted if r == current_entry else r for r in routes]
    if simple:
        target = _route_entry(endpoint, endpoint.stages[to_index] if to_index >= 0 else None, None)
        body = {
            "route": live_route(endpoint, live["routes"])["key"],  # type: ignore[index]
            "mode": target["mode"],
            "weight": target.get("weight"),
            "service": endpoint.service,
            "reason": reason,
        }
        return admin.call("POST", "/_strangler/routes/set", body)
    # only onto the version read: a table computed from it must not undo a change made since
    body = {"table": {"routes": routes}, "reason": reason, "if_version": live["version"]}
    return admin.call("PUT", "/_strangler/routes", body)


def advance(
    plan: Plan, access: StackAccess, target: str, *, reason: str, actor: str, force: bool = False
) -> dict[str, Any]:
    """Move ``target`` to its next stage if every gate of its current stage
    passes; with ``force``, move anyway and record it as forced."""
    if not reason.strip():
        raise PlanRefused("a reason is required (--reason)")
    endpoint = plan.endpoint(target)
    if not endpoint.migrates:
        raise PlanRefused(f"{endpoint.id} has no stages: the plan keeps it in the monolith")
    admin = Admin(access, actor)
    control = ControlStore(access.control_dsn)
    live = admin.call("GET", "/_strangler/routes")
    route = live_route(endpoint, live["routes"])
    index = stage_index(endpoint, route)
    if index is None:
        raise PlanRefused(
            f"{endpoint.id} is {stage_name(endpoint, index, route)}: set it to a plan stage first "
            "(strangler plan rollback, or strangler routes set)"
        )
    if index + 1 >= len(endpoint.stages):
        raise PlanRefused(f"{endpoint.id} is at its last stage ({endpoint.stages[index].name})")
    results: list[GateResult] = []
    if index >= 0:
        figs = Figures(access, admin, control)
        results, _window, _figures = _gates_of(endpoint, endpoint.stages[index], str(route["key"]), figs)  # type: ignore[index]
    failed = [r for r in results if not r.passed]
    if failed and not force:
        names = ", ".join(f"{r.gate} ({r.figure} vs {r.threshold})" for r in failed)
        raise PlanRefused(f"{endpoint.id}: gates failed: {names}", results)
    return _step(plan, admin, control, endpoint, live, index, index + 1, "advance", reason, failed, results)


def rollback(plan: Plan, access: StackAccess, target: str, *, reason: str, actor: str) -> dict[str, Any]:
    """Move ``target`` one stage back (to legacy from its first stage). No
    gate is asked: going back is always allowed."""
    if not reason.strip():
        raise PlanRefused("a reason is required (--reason)")
    endpoint = plan.endpoint(target)
    admin = Admin(access, actor)
    control = ControlStore(access.control_dsn)
    live = admin.call("GET", "/_strangler/routes")
    route = live_route(endpoint, live["routes"])
    index = stage_index(endpoint, route)
    if index == -1:
        raise PlanRefused(f"{endpoint.id} is already served by legacy")
    # Off-plan (set by hand to no stage of the plan): back to legacy.
    to = index - 1 if index is not None else -1
    return _step(plan, admin, control, endpoint, live, index, to, "rollback", reason, [], [])


def _step(
    plan: Plan,
    admin: Admin,
    control: ControlStore,
    endpoint: Endpoint,
    live: dict[str, Any],
    from_index: int | None,
    to_index: int,
    direction: str,
    reason: str,
    failed: list[GateResult],
    results: list[GateResult],
) -> dict[str, Any]:
    route = live_route(endpoint, live["routes"])
    from_stage = stage_name(endpoint, from_index, route)
    to_stage = LEGACY_STAGE if to_index < 0 else endpoint.stages[to_index].name
    forced = f" FORCED past failed gates: {', '.join(r.gate for r in failed)};" if failed else ""
    text = f"plan {direction} {endpoint.id} {from_stage} -> {to_stage}:{forced} {reason.strip()}"
    answer = _apply(admin, plan, endpoint, to_index, live, text)
    samples = admin.metrics()
    after = admin.call("GET", "/_strangler/routes")
    for member in _group(plan, endpoint):
        new_route = live_route(member, after["routes"])
        if new_route is not None:
            control.set_baseline(
                str(new_route["key"]), to_stage, int(answer["version"]), route_counters(samples, str(new_route["key"]))
            )
        control.record_step(
            Step(
                endpoint=member.id,
                route=str(new_route["key"]) if new_route else member.route,
                direction=direction,
                from_stage=from_stage,
                to_stage=to_stage,
                route_version=int(answer["version"]),
                forced=bool(failed),
                failed_gates=[r.gate for r in failed],
                actor=admin.actor,
                reason=reason.strip(),
            )
        )
    return {
        "endpoint": endpoint.id,
        "moved": [m.id for m in _group(plan, endpoint)],
        "direction": direction,
        "from_stage": from_stage,
        "to_stage": to_stage,
        "forced": bool(failed),
        "gates": [r.to_json() for r in results],
        "version": answer["version"],
        "previous": answer["previous"],
        "changes": answer.get("changes", []),
        "reason": text,
    }


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)
