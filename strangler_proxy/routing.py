"""Route table: parsing, validation and matching.

A route is ``methods + path template + mode``. Templates are segment lists:
``/api/items/{id}/rate/`` has literal segments and ``{name}`` placeholders that
match exactly one segment; ``{name:path}`` (last segment only) matches one or
more trailing segments. The most specific template wins: segments are
compared left to right, literal beats ``{x}`` beats ``{x:path}``. Two routes
whose methods intersect and whose templates have the same shape (identical
modulo placeholder names) are a tie and the whole table is refused.

The table is immutable once built; a flip builds a new table and swaps one
reference, so a request that already matched keeps its route.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Mode(StrEnum):
    """Who serves a route. A ``StrEnum`` so the table's YAML/JSON wire
    format stays the plain lower-case word; specs always store ``.value``."""

    LEGACY = "legacy"
    SHADOW = "shadow"
    CANARY = "canary"
    NEW = "new"
    RETIRED = "retired"

    @property
    def needs_service(self) -> bool:
        return self in (Mode.SHADOW, Mode.CANARY, Mode.NEW)


MODES = tuple(m.value for m in Mode)
SAFE_MODES = (Mode.LEGACY, Mode.SHADOW)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_PLACEHOLDER = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)(:path)?\}$")
_LITERAL = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@]*$")
_CONTEXT = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
WRITE_MODES = (Mode.LEGACY, Mode.NEW)

LITERAL, PARAM, REST = 0, 1, 2


class TableError(ValueError):
    """The table is invalid; ``problems`` lists every reason, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Limits:
    """Auto-rollback thresholds over a sliding window (None: not checked)."""

    error_rate: float | None = None
    p99_ms: float | None = None
    mismatch_rate: float | None = None
    window_s: float = 30.0
    min_requests: int = 20

    def any(self) -> bool:
        return self.error_rate is not None or self.p99_ms is not None or self.mismatch_rate is not None


@dataclass(frozen=True)
class Route:
    """One entry of the table. ``key`` is how a person names it:
    ``"GET,HEAD /api/items/{id}/rate/"``."""

    methods: frozenset[str]
    path: str
    mode: Mode = Mode.LEGACY
    service: str | None = None
    weight: int = 0
    fallback: bool = True
    timeout_s: float = 5.0
    shadow_unsafe: bool = False
    ignore: tuple[str, ...] = ()
    compare_headers: tuple[str, ...] = ("content-type",)
    pointer: str | None = None
    limits: Limits = field(default_factory=Limits)
    writes: str | None = None  # the bounded context whose data this route writes (one writer at a time)
    segments: tuple[tuple[int, str], ...] = ()

    @property
    def key(self) -> str:
        return route_key(self.methods, self.path)

    @property
    def shape(self) -> tuple[tuple[int, str], ...]:
        """Template with placeholder names erased: equal shapes tie."""
        return tuple((kind, text if kind == LITERAL else "") for kind, text in self.segments)

    def specificity(self) -> tuple[int, ...]:
        """Bigger sorts first: literal (2) > param (1) > rest (0) per segment;
        a longer all-literal prefix wins over a shorter one."""
        return (*(2 - kind for kind, _ in self.segments), len(self.segments))

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"methods": sorted(self.methods), "path": self.path, "mode": self.mode.value}
        if self.service:
            spec["service"] = self.service
        if self.mode is Mode.CANARY or self.weight:
            spec["weight"] = self.weight
        spec["fallback"] = self.fallback
        spec["timeout"] = self.timeout_s
        if self.shadow_unsafe:
            spec["shadow_unsafe"] = True
        if self.ignore:
            spec["ignore"] = list(self.ignore)
        if self.compare_headers != ("content-type",):
            spec["compare_headers"] = list(self.compare_headers)
        if self.pointer:
            spec["pointer"] = self.pointer
        if self.writes:
            spec["writes"] = self.writes
        if self.limits.any():
            lim = self.limits
            spec["limits"] = {
                k: v
                for k, v in {
                    "error_rate": lim.error_rate,
                    "p99_ms": lim.p99_ms,
                    "mismatch_rate": lim.mismatch_rate,
                    "window_s": lim.window_s,
                    "min_requests": lim.min_requests,
                }.items()
                if v is not None
            }
        return spec


def route_key(methods: Iterable[str], path: str) -> str:
    order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    ms = sorted(set(methods), key=lambda m: order.index(m) if m in order else 99)
    return f"{','.join(ms)} {path}"


def parse_route_key(text: str) -> tuple[frozenset[str], str]:
    """``"GET /api/items/{id}/rate/"`` -> ({"GET"}, "/api/items/{id}/rate/")."""
    parts = text.strip().split(None, 1)
    if len(parts) != 2 or not parts[1].startswith("/"):
        raise TableError([f"route {text!r}: write it as 'METHOD[,METHOD] /path/template'"])
    methods = frozenset(m.strip().upper() for m in parts[0].split(",") if m.strip())
    return methods, parts[1].strip()


def parse_template(path: str) -> tuple[tuple[int, str], ...]:
    """Split a template into typed segments or raise ValueError saying why."""
    if not path.startswith("/"):
        raise ValueError(f"template {path!r} must start with '/'")
    raw = path[1:].split("/")
    segments: list[tuple[int, str]] = []
    for index, seg in enumerate(raw):
        m = _PLACEHOLDER.match(seg)
        if m:
            kind = REST if m.group(2) else PARAM
            if kind == REST and index != len(raw) - 1:
                raise ValueError(f"template {path!r}: {{name:path}} must be the last segment")
            segments.append((kind, m.group(1)))
        elif "{" in seg or "}" in seg:
            raise ValueError(f"template {path!r}: bad placeholder {seg!r}")
        elif seg in (".", "..") or (seg == "" and index != len(raw) - 1):
            raise ValueError(f"template {path!r}: empty, '.' or '..' segment")
        elif not _LITERAL.match(seg):
            raise ValueError(f"template {path!r}: segment {seg!r} has characters that need encoding")
        else:
            segments.append((LITERAL, seg))
    return tuple(segments)


def _num(value: Any, name: str, problems: list[str], where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append(f"{where}: {name} must be a number")
        return None
    return float(value)


def route_from_spec(spec: Mapping[str, Any], services: Iterable[str], problems: list[str]) -> Route | None:
    """Build one route, appending every problem found (None if unusable)."""
    before = len(problems)
    where = f"route {spec.get('methods')} {spec.get('path')}"
    known = set(services)
    unknown_keys = set(spec) - {
        "methods",
        "path",
        "mode",
        "service",
        "weight",
        "fallback",
        "timeout",
        "shadow_unsafe",
        "ignore",
        "compare_headers",
        "pointer",
        "limits",
        "name",
        "writes",
    }
    if unknown_keys:
        problems.append(f"{where}: unknown keys {sorted(unknown_keys)}")
    methods_raw = spec.get("methods", ["GET"])
    if isinstance(methods_raw, str):
        methods_raw = list(methods_raw.split(","))
    methods = frozenset(str(m).strip().upper() for m in methods_raw)
    if not methods or not methods <= KNOWN_METHODS:
        problems.append(f"{where}: methods must be a non-empty subset of {sorted(KNOWN_METHODS)}")
    path = spec.get("path")
    segments: tuple[tuple[int, str], ...] = ()
    if not isinstance(path, str):
        problems.append(f"{where}: path template is required")
    else:
        try:
            segments = parse_template(path)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    raw_mode = spec.get("mode", "legacy")
    mode = Mode(raw_mode) if isinstance(raw_mode, str) and raw_mode in MODES else None
    if mode is None:
        problems.append(f"{where}: mode {raw_mode!r} is not one of {', '.join(MODES)}")
    service = spec.get("service")
    if mode is not None and mode.needs_service and not service:
        problems.append(f"{where}: mode {mode} needs a service")
    if service is not None and service not in known:
        problems.append(f"{where}: unknown service {service!r} (configured: {sorted(known) or 'none'})")
    weight = spec.get("weight", 0)
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
        problems.append(f"{where}: weight must be an integer 0-100, got {weight!r}")
        weight = 0
    timeout = _num(spec.get("timeout", 5.0), "timeout", problems, where) or 5.0
    if timeout <= 0 or timeout > 300:
        problems.append(f"{where}: timeout must be in (0, 300] seconds")
    ignore = spec.get("ignore", [])
    if not isinstance(ignore, list) or not all(isinstance(p, str) and p.startswith("$") for p in ignore):
        problems.append(f"{where}: ignore must be a list of JSON paths like '$.as_of'")
        ignore = []
    headers = spec.get("compare_headers", ["content-type"])
    if not isinstance(headers, list):
        problems.append(f"{where}: compare_headers must be a list")
        headers = []
    writes = spec.get("writes")
    if writes is not None and (not isinstance(writes, str) or not _CONTEXT.match(writes)):
        problems.append(f"{where}: writes must name a context (lower-case word like 'market'), got {writes!r}")
    lim_spec = spec.get("limits") or {}
    limits = Limits()
    if not isinstance(lim_spec, Mapping):
        problems.append(f"{where}: limits must be a mapping")
    else:
        bad = set(lim_spec) - {"error_rate", "p99_ms", "mismatch_rate", "window_s", "min_requests"}
        if bad:
            problems.append(f"{where}: unknown limits {sorted(bad)}")
        limits = Limits(
            error_rate=_num(lim_spec.get("error_rate"), "error_rate", problems, where),
            p99_ms=_num(lim_spec.get("p99_ms"), "p99_ms", problems, where),
            mismatch_rate=_num(lim_spec.get("mismatch_rate"), "mismatch_rate", problems, where),
            window_s=_num(lim_spec.get("window_s", 30.0), "window_s", problems, where) or 30.0,
            min_requests=int(lim_spec.get("min_requests", 20)),
        )
    if len(problems) > before or mode is None:
        return None
    return Route(
        methods=methods,
        path=str(path),
        mode=mode,
        service=service,
        weight=int(weight),
        fallback=bool(spec.get("fallback", True)),
        timeout_s=float(timeout),
        shadow_unsafe=bool(spec.get("shadow_unsafe", False)),
        ignore=tuple(ignore),
        compare_headers=tuple(h.lower() for h in headers),
        pointer=spec.get("pointer"),
        limits=limits,
        writes=writes,
        segments=segments,
    )


def _match_segments(segments: tuple[tuple[int, str], ...], parts: list[str]) -> bool:
    n = len(segments)
    for i, (kind, text) in enumerate(segments):
        if kind == REST:
            return len(parts) > i and parts[i] != ""
        if i >= len(parts):
            return False
        if kind == LITERAL:
            if parts[i] != text:
                return False
        elif parts[i] == "":
            return False
    return len(parts) == n


class RouteTable:
    """An immutable, validated table; ``match`` is the hot-path lookup."""

    def __init__(self, routes: list[Route], version: int = 0) -> None:
        self.version = version
        self.routes = tuple(sorted(routes, key=lambda r: r.specificity(), reverse=True))
        self._cache: dict[tuple[str, str], Route | None] = {}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None, services: Iterable[str], version: int = 0) -> RouteTable:
        """Validate a whole table; any problem refuses all of it."""
        problems: list[str] = []
        raw = (spec or {}).get("routes", []) if isinstance(spec, Mapping) else None
        if not isinstance(raw, list):
            raise TableError(["table must be a mapping with a 'routes' list"])
        services = list(services)
        routes = [r for item in raw if (r := _route_or_problem(item, services, problems)) is not None]
        seen: dict[tuple[Any, ...], Route] = {}
        for route in routes:
            for method in route.methods:
                other = seen.get((method, route.shape))
                if other is not None:
                    problems.append(
                        f"routes {other.key!r} and {route.key!r} overlap with equal specificity for {method}"
                    )
                seen[(method, route.shape)] = route
        problems.extend(write_route_problems(routes))
        if problems:
            raise TableError(problems)
        return cls(routes, version)

    def to_spec(self) -> dict[str, Any]:
        return {"routes": [r.to_spec() for r in sorted(self.routes, key=lambda r: (r.path, r.key))]}

    def find(self, key: str) -> Route | None:
        methods, path = parse_route_key(key)
        for route in self.routes:
            if route.path == path and (route.methods == methods or methods <= route.methods):
                return route
        return None

    def match(self, method: str, path: str) -> Route | None:
        """The most specific route for this request, None for the default
        (legacy). ``path`` is the already-validated path without query."""
        ck = (method, path)
        try:
            return self._cache[ck]
        except KeyError:
            pass
        found: Route | None = None
        parts = path[1:].split("/")
        for route in self.routes:
            if method in route.methods and _match_segments(route.segments, parts):
                found = route
                break
        if len(self._cache) > 8192:
            self._cache.clear()
        self._cache[ck] = found
        return found


def write_route_problems(routes: Iterable[Route]) -> list[str]:
    """One writer per context at a time: the write routes of a context all
    have the same mode, legacy or new (shadow or canary of a write would make
    two writers), and when new, the same service. Every problem names the
    routes involved."""
    by_context: dict[str, list[Route]] = {}
    for route in routes:
        if route.writes:
            by_context.setdefault(route.writes, []).append(route)
    problems: list[str] = []
    for context, members in sorted(by_context.items()):
        members.sort(key=lambda r: r.key)
        listed = ", ".join(f"{r.key!r} is {r.mode.value}" for r in members)
        bad = [r for r in members if r.mode not in WRITE_MODES]
        if bad:
            names = ", ".join(f"{r.key!r} is {r.mode.value}" for r in bad)
            problems.append(
                f"writes {context!r}: write routes must be legacy or new (shadow or canary of a write "
                f"would make two writers): {names}"
            )
        elif len({r.mode for r in members}) > 1:
            problems.append(f"writes {context!r}: all write routes of a context need the same mode: {listed}")
        elif members[0].mode is Mode.NEW and len({r.service for r in members}) > 1:
            services = ", ".join(f"{r.key!r} to {r.service}" for r in members)
            problems.append(f"writes {context!r}: new write routes of a context need the same service: {services}")
    return problems


def write_owners(spec: Mapping[str, Any]) -> dict[str, str]:
    """Who owns each context's writes under a (validated) table spec: the
    write routes' service when they are ``new``, else ``legacy``."""
    owners: dict[str, str] = {}
    for item in spec.get("routes") or []:
        context = item.get("writes") if isinstance(item, Mapping) else None
        if context:
            service = item.get("service")
            owners[str(context)] = str(service) if item.get("mode") == Mode.NEW.value and service else "legacy"
    return owners


class TableHolder:
    """The live table; replaced by one assignment so a flip is atomic for
    every request that has not matched yet and invisible to those that did."""

    def __init__(self, table: RouteTable) -> None:
        self.table = table


def _route_or_problem(item: Any, services: list[str], problems: list[str]) -> Route | None:
    if not isinstance(item, Mapping):
        problems.append(f"route entry {item!r} is not a mapping")
        return None
    return route_from_spec(item, services, problems)


def diff_specs(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Route-level differences between two table specs, for review before a
    change is applied: added / removed / changed (with field old -> new)."""

    def index(spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for item in spec.get("routes", []) or []:
            if isinstance(item, Mapping):
                methods = item.get("methods", ["GET"])
                if isinstance(methods, str):
                    methods = methods.split(",")
                out[route_key([str(m).upper() for m in methods], str(item.get("path")))] = dict(item)
        return out

    a, b = index(old), index(new)
    changes: list[dict[str, Any]] = []
    for key in sorted(set(a) | set(b)):
        if key not in b:
            changes.append({"route": key, "change": "removed", "fields": {}})
        elif key not in a:
            changes.append({"route": key, "change": "added", "fields": {k: [None, v] for k, v in b[key].items()}})
        else:
            fields = {
                k: [a[key].get(k), b[key].get(k)]
                for k in sorted(set(a[key]) | set(b[key]))
                if a[key].get(k) != b[key].get(k)
            }
            if fields:
                changes.append({"route": key, "change": "changed", "fields": fields})
    return changes


def set_route(
    spec: Mapping[str, Any],
    key: str,
    *,
    mode: Mode,
    weight: int | None = None,
    service: str | None = None,
    services: Iterable[str] = (),
) -> dict[str, Any]:
    """A copy of ``spec`` with the route named ``key`` set to ``mode``.

    The route is found by path and method set (or a route whose methods
    include the given ones); a new route is added if none matches. The
    service defaults to the route's own, else the only configured one."""
    methods, path = parse_route_key(key)
    routes = [dict(r) for r in (spec.get("routes") or [])]
    target: dict[str, Any] | None = None
    for r in routes:
        rm = r.get("methods", ["GET"])
        rm = frozenset(m.upper() for m in (rm.split(",") if isinstance(rm, str) else rm))
        if r.get("path") == path and rm == methods:
            target = r
            break
    if target is None:
        for r in routes:
            rm = r.get("methods", ["GET"])
            rm = frozenset(m.upper() for m in (rm.split(",") if isinstance(rm, str) else rm))
            if r.get("path") == path and methods <= rm:
                target = r
                break
    if target is None:
        target = {"methods": sorted(methods), "path": path}
        routes.append(target)
    target["mode"] = Mode(mode).value
    if weight is not None:
        target["weight"] = weight
    elif mode is Mode.CANARY and "weight" not in target:
        target["weight"] = 0
    if service is not None:
        target["service"] = service
    elif Mode(mode).needs_service and not target.get("service"):
        known = list(services)
        if len(known) == 1:
            target["service"] = known[0]
    out = dict(spec)
    out["routes"] = routes
    return out
