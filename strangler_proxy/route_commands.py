"""Route-table changes as commands, handled over the ``RouteRepository`` port.

Every change to the table is one of four commands: set one route's mode,
apply a whole table, roll back to an earlier version, or the proxy's own
auto-rollback of a route over its limits. ``RouteCommands.handle`` validates
the resulting table against the configured services inside the repository's
read-modify-write (so a concurrent change is never lost), stores it as a new
version with who/why/kind for the audit log, and makes it live in this
process at once (the others learn of it through the repository).

The admin API and the auto-rollback watcher only build commands; the rules
live here, with unit tests over an in-memory repository.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from strangler_proxy.route_repository import GetVersion, Mutation, RouteRepository, Unchanged, Version, VersionConflict
from strangler_proxy.routing import MODES, SAFE_MODES, Mode, RouteTable, diff_specs, set_route

log = logging.getLogger("strangler_proxy.admin")

ROLLBACK_SEARCH_DEPTH = 50  # versions looked back for a route's last safe mode


@dataclass(frozen=True)
class SetRoute:
    """Set one route (``"GET,HEAD /path/{id}/"``) to ``mode``; a route not
    in the table is added. An empty reason becomes "set <route> to <mode>"."""

    route: str
    mode: Mode
    actor: str
    reason: str = ""
    weight: int | None = None
    service: str | None = None


@dataclass(frozen=True)
class ApplyTable:
    """Replace the whole table (a reason is required). With ``if_version``,
    only if that version is still the live one (``VersionConflict`` else): a
    table computed from what was read must not overwrite a change made since."""

    table: Any
    actor: str
    reason: str
    if_version: int | None = None


@dataclass(frozen=True)
class RollBack:
    """Restore version ``to`` (default: the one before the latest)."""

    actor: str
    reason: str = ""
    to: int | None = None


@dataclass(frozen=True)
class AutoRollBack:
    """Flip a route that breached its limits back to its last safe mode:
    legacy from shadow, else the latest shadow/legacy mode it had in recent
    versions. Refused (``Unchanged``) if the route left ``from_mode`` meanwhile.
    A write route (``writes: <context>``) takes every write route of its
    context back to legacy: one writer per context."""

    route: str
    from_mode: Mode
    why: str
    actor: str


@dataclass(frozen=True)
class SetWrites:
    """Flip every route that writes ``context`` to ``mode`` (legacy or new)
    in one version: the way to move a context's writes, since its write
    routes may not differ. ``service`` sets their service too."""

    context: str
    mode: Mode
    actor: str
    reason: str = ""
    service: str | None = None


Command = SetRoute | ApplyTable | RollBack | AutoRollBack | SetWrites


@dataclass(frozen=True)
class Changed:
    """The outcome of a command: the version it replaced and the new one."""

    old: Version
    new: Version

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.new.version,
            "previous": self.old.version,
            "changes": diff_specs(self.old.spec, self.new.spec),
        }


class RouteCommands:
    """Handles route-table commands; ``on_changed`` makes a new version live
    in this process (``ProxyApp.apply_version``)."""

    def __init__(
        self, repository: RouteRepository, services: Sequence[str], on_changed: Callable[[Version], Awaitable[None]]
    ) -> None:
        self.repository = repository
        self.services = list(services)
        self.on_changed = on_changed

    def validate(self, spec: Any) -> RouteTable:
        """The table ``spec`` describes, or ``TableError`` with every problem."""
        return RouteTable.from_spec(spec, self.services)

    async def preview(self, table: Any) -> dict[str, Any]:
        """What ``ApplyTable(table)`` would change, without changing anything."""
        normalised = self.validate(table).to_spec()
        latest = await self.repository.latest()
        return {"version": latest.version, "dry_run": True, "changes": diff_specs(latest.spec, normalised)}

    async def handle(self, command: Command) -> Changed:
        """Raises ``TableError`` (invalid result), ``Unchanged`` (no-op),
        ``LookupError`` (no such version) or ``ValueError`` (no reason)."""
        if isinstance(command, SetRoute):
            mutate, reason, kind = self._set(command), command.reason or f"set {command.route} to {command.mode}", "set"
        elif isinstance(command, SetWrites):
            default = f"set the writes of {command.context} to {command.mode}"
            mutate, reason, kind = self._set_writes(command), command.reason or default, "set"
        elif isinstance(command, ApplyTable):
            mutate, reason, kind = self._apply(command), command.reason, "apply"
        elif isinstance(command, RollBack):
            default = f"rollback to {command.to if command.to is not None else 'previous'}"
            mutate, reason, kind = self._rollback(command), command.reason or default, "rollback"
        else:
            mutate, reason, kind = (
                self._auto_rollback(command),
                f"auto-rollback of {command.route} from {command.from_mode}: {command.why}",
                "auto-rollback",
            )
        if not reason.strip():
            raise ValueError("a reason is required for every change")
        old, new = await self.repository.change(mutate, actor=command.actor, reason=reason, kind=kind)
        await self.on_changed(new)
        log.info(
            "route table changed",
            extra={"version": new.version, "actor": command.actor, "reason": reason, "kind": kind},
        )
        return Changed(old, new)

    # -- one mutation per command ------------------------------------------------------
    def _set(self, cmd: SetRoute) -> Mutation:
        async def mutate(old: Version, _get: GetVersion) -> tuple[dict[str, Any], int | None]:
            spec = set_route(
                old.spec, cmd.route, mode=cmd.mode, weight=cmd.weight, service=cmd.service, services=self.services
            )
            return self.validate(spec).to_spec(), None

        return mutate

    def _set_writes(self, cmd: SetWrites) -> Mutation:
        async def mutate(old: Version, _get: GetVersion) -> tuple[dict[str, Any], int | None]:
            if not any(r.get("writes") == cmd.context for r in old.spec.get("routes") or []):
                raise LookupError(f"no route writes {cmd.context!r} (mark them with writes: {cmd.context})")
            spec = set_context_mode(old.spec, cmd.context, cmd.mode, service=cmd.service)
            return self.validate(spec).to_spec(), None

        return mutate

    def _apply(self, cmd: ApplyTable) -> Mutation:
        normalised = self.validate(cmd.table).to_spec()  # refused before touching the repository

        async def mutate(old: Version, _get: GetVersion) -> tuple[dict[str, Any], int | None]:
            if cmd.if_version is not None and old.version != cmd.if_version:
                raise VersionConflict(cmd.if_version, old.version)
            return normalised, None

        return mutate

    def _rollback(self, cmd: RollBack) -> Mutation:
        async def mutate(old: Version, get: GetVersion) -> tuple[dict[str, Any], int | None]:
            wanted = int(cmd.to) if cmd.to is not None else old.version - 1
            target = await get(wanted)
            if target is None:
                raise LookupError(f"no version {wanted}")
            return self.validate(target.spec).to_spec(), target.version

        return mutate

    def _auto_rollback(self, cmd: AutoRollBack) -> Mutation:
        async def mutate(old: Version, get: GetVersion) -> tuple[dict[str, Any], int | None]:
            current = self.validate(old.spec).find(cmd.route)
            if current is None or current.mode != cmd.from_mode:
                raise Unchanged("route already changed")
            if current.writes:
                # A write route moves only with its whole context, and only to legacy.
                spec = set_context_mode(old.spec, current.writes, Mode.LEGACY)
                return self.validate(spec).to_spec(), None
            safe = Mode.LEGACY if cmd.from_mode is Mode.SHADOW else await self._last_safe_mode(cmd.route, old, get)
            spec = set_route(old.spec, cmd.route, mode=safe, services=self.services)
            return self.validate(spec).to_spec(), None

        return mutate

    async def _last_safe_mode(self, key: str, old: Version, get: GetVersion) -> Mode:
        """The route's latest legacy/shadow mode in the versions before
        ``old``, looking back while the route existed; legacy if none."""
        v = old.version - 1
        while v > 0 and old.version - v <= ROLLBACK_SEARCH_DEPTH:
            prev = await get(v)
            r = self.validate(prev.spec).find(key) if prev else None
            if r is None:
                break
            if r.mode in SAFE_MODES:
                return r.mode
            v -= 1
        return Mode.LEGACY


def set_context_mode(spec: dict[str, Any], context: str, mode: Mode, *, service: str | None = None) -> dict[str, Any]:
    """A copy of ``spec`` with every route that writes ``context`` set to
    ``mode`` (and to ``service`` when given)."""
    changes: dict[str, Any] = {"mode": mode.value} | ({"service": service} if service else {})
    routes = [dict(r, **changes) if r.get("writes") == context else dict(r) for r in spec.get("routes") or []]
    return dict(spec, routes=routes)


def parse_mode(value: object) -> Mode:
    """A mode from untrusted input; ValueError naming the choices."""
    text = str(value or "")
    if text not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    return Mode(text)
