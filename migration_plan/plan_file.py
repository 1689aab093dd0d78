"""The migration plan file (``migration-plan.yaml``): model and validation.

The plan groups the monolith's endpoints by bounded context and target
service, and gives each endpoint its stages (route modes the proxy
understands, see ``strangler_proxy.routing``) and the gates that must pass
to leave each stage. It is validated on the YAML *nodes*, not on the loaded
data, so every problem names the line it is on (``file:12: ...``): a plan
is edited by hand and reviewed in pull requests, where "line 12" is what a
person needs. All problems are collected, not just the first.

Shape (see ``migration-plan.yaml`` at the repository root)::

    version: 1
    stage_sets:
      reads:                      # a named list of stages, reused by endpoints
        - stage: shadow           # a name people use
          mode: shadow            # the proxy mode (legacy/shadow/canary/new/retired)
          gates: {min_shadow_requests: 50, max_mismatch_rate: 0.01}
        - {stage: canary-5, mode: canary, weight: 5, gates: {...}}
    contexts:
      pricing:
        service: pricing          # the target service (null: stays in the monolith)
        endpoints:
          - name: rate
            route: GET,HEAD /api/items/{id}/rate/
            stages: reads         # a stage set's name, or a list of stages
            route_options: {ignore: ["$.as_of"], timeout: 2.0}

A route in ``legacy`` mode is before the first stage. Gates of a stage are
what must hold to *leave* it (advance to the next stage).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from strangler_proxy.routing import MODES, Mode, TableError, parse_route_key, parse_template

DEFAULT_PLAN_FILE = Path("migration-plan.yaml")

#: Every gate a stage may name, with the type of its threshold and what it means.
GATE_KINDS: dict[str, tuple[type, str]] = {
    "min_shadow_requests": (int, "at least this many shadow comparisons in the stage"),
    "max_mismatch_rate": (float, "shadow mismatches / comparisons at most this"),
    "min_new_requests": (int, "at least this many requests answered by the new service in the stage"),
    "max_error_rate": (float, "new side's errors (5xx, fallbacks, failed shadow calls) / its requests"),
    "max_error_rate_increase": (float, "new side's error rate minus legacy's, at most this"),
    "max_p99_ms": (float, "new side's p99 latency at most this (ms)"),
    "max_p99_ratio": (float, "new side's p99 latency / legacy's p99 at most this"),
    "max_cdc_lag_s": (float, "CDC lag of the context's legacy tables at most this (s)"),
    "parity": (bool, "data parity of the context: no aggregate differs"),
}
ROUTE_OPTIONS = frozenset({"ignore", "timeout", "fallback", "compare_headers", "shadow_unsafe", "limits", "pointer"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the plan, where it is."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class PlanError(ValueError):
    """The plan file is invalid; ``problems`` has every problem with its line."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = sorted(problems, key=lambda p: p.line)
        super().__init__("\n".join(f"{source}:{p.line}: {p.message}" for p in self.problems))


@dataclass(frozen=True)
class Stage:
    """One step of an endpoint's migration: the route mode (and canary weight)
    the proxy is set to, and the gates that must pass to leave it."""

    name: str
    mode: Mode
    weight: int | None = None
    gates: dict[str, float | int | bool] = field(default_factory=dict)
    #: None: the route's own setting. ``retired`` is ``new`` without fallback:
    #: legacy's code path is no longer a safety net (proxy mode ``retired``
    #: would answer 410 Gone, which is for endpoints that go away).
    fallback: bool | None = None

    def matches(self, mode: str, weight: int | None, fallback: bool) -> bool:
        """Whether a live route in ``mode``/``weight``/``fallback`` is at this stage."""
        return (
            self.mode.value == mode
            and (self.mode is not Mode.CANARY or self.weight == weight)
            and (self.fallback is None or self.fallback == fallback)
        )


@dataclass(frozen=True)
class Endpoint:
    """One route of the monolith in the plan. ``key`` is the proxy's route
    key (``"GET,HEAD /api/items/{id}/rate/"``)."""

    context: str
    name: str
    route: str
    service: str | None
    stages: tuple[Stage, ...]
    options: dict[str, Any]
    writes: str | None
    line: int

    @property
    def id(self) -> str:
        """How a person names it on the command line: ``pricing.rate``."""
        return f"{self.context}.{self.name}"

    @property
    def methods(self) -> frozenset[str]:
        return parse_route_key(self.route)[0]

    @property
    def path(self) -> str:
        return parse_route_key(self.route)[1]

    @property
    def migrates(self) -> bool:
        """Planned to move to a service (an endpoint without stages stays)."""
        return bool(self.stages) and self.service is not None


@dataclass(frozen=True)
class Context:
    name: str
    service: str | None
    endpoints: tuple[Endpoint, ...]


@dataclass(frozen=True)
class Plan:
    source: str
    contexts: tuple[Context, ...]

    @property
    def endpoints(self) -> list[Endpoint]:
        return [e for c in self.contexts for e in c.endpoints]

    def context(self, name: str) -> Context:
        for c in self.contexts:
            if c.name == name:
                return c
        raise LookupError(f"no context {name!r} in the plan (known: {', '.join(c.name for c in self.contexts)})")

    def endpoint(self, target: str) -> Endpoint:
        """An endpoint by id (``pricing.rate``) or route key (methods may be
        any order or a subset: ``GET /api/items/{id}/rate/``)."""
        for e in self.endpoints:
            if target == e.id:
                return e
        try:
            methods, path = parse_route_key(target)
            parse_template(path)
        except (TableError, ValueError):
            methods, path = frozenset(), ""
        for e in self.endpoints:
            if path and methods and methods <= e.methods and _shape(e.path) == _shape(path):
                return e
        raise LookupError(f"no endpoint {target!r} in the plan (name it as context.name or 'METHOD /path/')")


# -- loading -----------------------------------------------------------------------------------


def load_plan(path: Path) -> Plan:
    """Read and validate a plan file; ``PlanError`` lists every problem by line."""
    return parse_plan(path.read_text(), str(path))


def parse_plan(text: str, source: str = "<plan>") -> Plan:
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise PlanError(source, [Problem(line, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from exc
    checker = _Checker()
    plan = checker.plan(root, source)
    if checker.problems:
        raise PlanError(source, checker.problems)
    return plan


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _items(node: MappingNode) -> Iterator[tuple[str, Node, Node]]:
    for key, value in node.value:
        yield str(key.value), key, value


class _Checker:
    """Walks the YAML node tree, building the plan and collecting problems."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self._constructor = SafeConstructor()

    def add(self, node: Node, message: str) -> None:
        self.problems.append(Problem(_line(node), message))

    def value(self, node: Node) -> Any:
        return self._constructor.construct_object(node, deep=True)

    def mapping(self, node: Node | None, where: str, known: frozenset[str] | None = None) -> dict[str, Node]:
        if not isinstance(node, MappingNode):
            if node is not None:
                self.add(node, f"{where}: must be a mapping")
            return {}
        out: dict[str, Node] = {}
        for name, key, value in _items(node):
            if name in out:
                self.add(key, f"{where}: {name!r} appears twice")
            elif known is not None and name not in known:
                self.add(key, f"{where}: unknown key {name!r} (expected one of {', '.join(sorted(known))})")
            out[name] = value
        return out

    def scalar(self, node: Node, where: str, kind: type, check: Callable[[Any], str] | None = None) -> Any:
        """The scalar's value if it is of ``kind`` (and ``check`` says "" about it), else None."""
        value = self.value(node) if isinstance(node, ScalarNode) else node
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            self.add(node, f"{where}: must be {kind.__name__}, got {self._shown(node)}")
            return None
        why = check(value) if check else ""
        if why:
            self.add(node, f"{where}: {why}, got {value!r}")
            return None
        return value

    def _shown(self, node: Node) -> str:
        if isinstance(node, ScalarNode):
            return repr(self.value(node))
        return "a mapping" if isinstance(node, MappingNode) else "a list"

    # -- the document --------------------------------------------------------------------------
    def plan(self, root: Node | None, source: str) -> Plan:
        if root is None:
            self.problems.append(Problem(1, "the plan is empty"))
            return Plan(source, ())
        top = self.mapping(root, "plan", frozenset({"version", "stage_sets", "contexts"}))
        if "version" in top:
            self.scalar(top["version"], "version", int, lambda v: "" if v == 1 else "only version 1 exists")
        else:
            self.add(root, "plan: 'version: 1' is missing")
        sets = {
            name: self.stages(node, f"stage_sets.{name}")
            for name, node in self.mapping(top.get("stage_sets"), "stage_sets").items()
        }
        if "contexts" not in top:
            self.add(root, "plan: 'contexts' is missing")
        contexts = tuple(
            self.context(name, node, sets) for name, node in self.mapping(top.get("contexts"), "contexts").items()
        )
        plan = Plan(source, contexts)
        self.across(plan)
        return plan

    def stages(self, node: Node, where: str) -> tuple[Stage, ...]:
        if not isinstance(node, SequenceNode):
            self.add(node, f"{where}: must be a list of stages")
            return ()
        stages = tuple(s for i, item in enumerate(node.value) if (s := self.stage(item, f"{where}[{i}]")) is not None)
        names = [s.name for s in stages]
        for i, item in enumerate(node.value):
            if i < len(names) and names.count(names[i]) > 1 and names.index(names[i]) != i:
                self.add(item, f"{where}[{i}]: stage name {names[i]!r} is used twice")
        return stages

    def stage(self, node: Node, where: str) -> Stage | None:
        fields = self.mapping(node, where, frozenset({"stage", "mode", "weight", "gates", "fallback"}))
        before = len(self.problems)
        for required in ("stage", "mode"):
            if required not in fields and isinstance(node, MappingNode):
                self.add(node, f"{where}: {required!r} is missing")
        name = self.scalar(fields["stage"], f"{where}.stage", str) if "stage" in fields else None
        mode_text = (
            self.scalar(
                fields["mode"],
                f"{where}.mode",
                str,
                lambda v: "" if v in MODES and v != "legacy" else f"must be one of {', '.join(MODES[1:])}",
            )
            if "mode" in fields
            else None
        )
        weight: int | None = None
        if mode_text == Mode.CANARY.value:
            if "weight" not in fields:
                self.add(node, f"{where}: a canary stage needs 'weight' (percent of users, 1-99)")
            else:
                weight = self.scalar(
                    fields["weight"], f"{where}.weight", int, lambda v: "" if 1 <= v <= 99 else "must be 1-99"
                )
        elif "weight" in fields:
            self.add(fields["weight"], f"{where}.weight: only a canary stage has a weight")
        gates = self.gates(fields.get("gates"), f"{where}.gates")
        fallback = self.scalar(fields["fallback"], f"{where}.fallback", bool) if "fallback" in fields else None
        if len(self.problems) > before or name is None or mode_text is None:
            return None
        return Stage(name, Mode(mode_text), weight, gates, fallback)

    def gates(self, node: Node | None, where: str) -> dict[str, float | int | bool]:
        out: dict[str, float | int | bool] = {}
        for gate, value in self.mapping(node, where, frozenset(GATE_KINDS)).items():
            if gate not in GATE_KINDS:
                continue
            kind = GATE_KINDS[gate][0]
            ratio = gate.endswith(("_rate", "_increase"))

            def check(v: Any, gate: str = gate, ratio: bool = ratio) -> str:
                if isinstance(v, bool):
                    return ""
                if v < 0:
                    return "must not be negative"
                return "must be a fraction between 0 and 1 (0.01 is 1%)" if ratio and v > 1 else ""

            got = self.scalar(value, f"{where}.{gate}", kind, check)
            if got is not None:
                out[gate] = got
        return out

    def context(self, name: str, node: Node, sets: dict[str, tuple[Stage, ...]]) -> Context:
        where = f"contexts.{name}"
        fields = self.mapping(node, where, frozenset({"service", "endpoints"}))
        service: str | None = None
        if "service" in fields:
            raw = self.value(fields["service"]) if isinstance(fields["service"], ScalarNode) else None
            service = None if raw is None else self.scalar(fields["service"], f"{where}.service", str)
        endpoints_node = fields.get("endpoints")
        endpoints: list[Endpoint] = []
        if not isinstance(endpoints_node, SequenceNode):
            self.add(endpoints_node or node, f"{where}.endpoints: must be a list of endpoints")
        else:
            for i, item in enumerate(endpoints_node.value):
                ep = self.endpoint(item, f"{where}.endpoints[{i}]", name, service, sets)
                if ep is not None:
                    endpoints.append(ep)
        return Context(name, service, tuple(endpoints))

    def endpoint(
        self, node: Node, where: str, context: str, service: str | None, sets: dict[str, tuple[Stage, ...]]
    ) -> Endpoint | None:
        known = frozenset({"name", "route", "stages", "route_options", "writes"})
        fields = self.mapping(node, where, known)
        before = len(self.problems)
        for required in ("name", "route"):
            if required not in fields and isinstance(node, MappingNode):
                self.add(node, f"{where}: {required!r} is missing")
        name = self.scalar(fields["name"], f"{where}.name", str) if "name" in fields else None
        route = self.scalar(fields["route"], f"{where}.route", str, _route_problem) if "route" in fields else None
        stages: tuple[Stage, ...] = ()
        if "stages" in fields:
            raw = fields["stages"]
            if isinstance(raw, ScalarNode):
                set_name = self.value(raw)
                if set_name not in sets:
                    self.add(raw, f"{where}.stages: no stage set {set_name!r} (known: {', '.join(sorted(sets))})")
                stages = sets.get(str(set_name), ())
            else:
                stages = self.stages(raw, f"{where}.stages")
        if stages and service is None:
            self.add(fields["stages"], f"{where}.stages: contexts.{context} has no service to move to")
        writes = self.scalar(fields["writes"], f"{where}.writes", str) if "writes" in fields else None
        if writes is not None:
            for stage in stages:
                if stage.mode not in (Mode.NEW, Mode.RETIRED):
                    self.add(
                        fields["stages"],
                        f"{where}: a write route (writes: {writes}) moves straight to new: "
                        f"stage {stage.name!r} is {stage.mode.value} (one writer at a time)",
                    )
                    break
        options = self.mapping(fields.get("route_options"), f"{where}.route_options", ROUTE_OPTIONS)
        if len(self.problems) > before or name is None or route is None:
            return None
        return Endpoint(
            context=context,
            name=name,
            route=route,
            service=service,
            stages=stages,
            options={k: self.value(v) for k, v in options.items()},
            writes=writes,
            line=_line(node),
        )

    def across(self, plan: Plan) -> None:
        """Problems between endpoints: duplicate ids or routes, write groups
        whose stages differ (they flip together)."""
        seen_ids: dict[str, Endpoint] = {}
        seen_routes: dict[tuple[str, tuple[Any, ...]], Endpoint] = {}
        writes: dict[str, Endpoint] = {}
        for e in plan.endpoints:
            if e.id in seen_ids:
                self.problems.append(
                    Problem(e.line, f"endpoint {e.id} is named twice (also line {seen_ids[e.id].line})")
                )
            seen_ids[e.id] = e
            shape = _shape(e.path)
            for method in sorted(e.methods):
                other = seen_routes.get((method, shape))
                if other is not None and other is not e:
                    self.problems.append(
                        Problem(e.line, f"{method} {e.path} is planned twice (also {other.id}, line {other.line})")
                    )
                seen_routes[(method, shape)] = e
            if e.writes:
                first = writes.setdefault(e.writes, e)
                if first is not e and [s.mode for s in first.stages] != [s.mode for s in e.stages]:
                    self.problems.append(
                        Problem(
                            e.line,
                            f"the write routes of {e.writes} flip together: {e.id}'s stages differ from "
                            f"{first.id}'s (line {first.line})",
                        )
                    )


def _shape(path: str) -> tuple[Any, ...]:
    return tuple((kind, text if kind == 0 else "") for kind, text in parse_template(path))


def _route_problem(text: str) -> str:
    """ "" if ``text`` is a route key the proxy accepts, else why not."""
    try:
        methods, path = parse_route_key(text)
        parse_template(path)
    except TableError as exc:
        return "; ".join(exc.problems)
    except ValueError as exc:
        return str(exc)
    from strangler_proxy.routing import KNOWN_METHODS

    if not methods or not methods <= KNOWN_METHODS:
        return f"methods must be among {', '.join(sorted(KNOWN_METHODS))}"
    return ""
