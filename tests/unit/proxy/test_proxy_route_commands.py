"""Route-table commands over an in-memory route repository."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from proxy_fakes import FakeRouteRepository

from strangler_proxy.route_commands import (
    ApplyTable,
    AutoRollBack,
    Changed,
    RollBack,
    RouteCommands,
    SetRoute,
    parse_mode,
)
from strangler_proxy.route_repository import Unchanged, Version
from strangler_proxy.routing import Mode, TableError

ROUTE = "GET /api/items/{id}/rate/"
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Rig:
    def __init__(self) -> None:
        self.repo = FakeRouteRepository()
        self.live: list[int] = []

        async def apply(v: Version) -> None:
            self.live.append(v.version)

        self.commands = RouteCommands(self.repo, ["pricing"], apply)

    def handle(self, command: Any) -> Changed:
        return run(self.commands.handle(command))

    def mode(self, key: str = ROUTE) -> Mode | None:
        route = self.commands.validate(self.repo.versions[-1].spec).find(key)
        return route.mode if route else None


def test_set_route_adds_a_version_goes_live_and_reports_the_diff() -> None:
    rig = Rig()
    changed = rig.handle(SetRoute(ROUTE, Mode.SHADOW, actor="ann@host"))
    assert changed.to_json() == {
        "version": 2,
        "previous": 1,
        "changes": [
            {
                "route": ROUTE,
                "change": "added",
                "fields": {
                    "fallback": [None, True],
                    "methods": [None, ["GET"]],
                    "mode": [None, "shadow"],
                    "path": [None, "/api/items/{id}/rate/"],
                    "service": [None, "pricing"],
                    "timeout": [None, 5.0],
                },
            }
        ],
    }
    v = rig.repo.versions[-1]
    assert (v.actor, v.reason, v.kind, v.restored_from) == ("ann@host", f"set {ROUTE} to shadow", "set", None)
    assert rig.live == [2] and rig.mode() is Mode.SHADOW
    assert v.spec["routes"][0]["mode"] == "shadow" and type(v.spec["routes"][0]["mode"]) is str


def test_an_invalid_result_is_refused_and_nothing_is_stored() -> None:
    rig = Rig()
    with pytest.raises(TableError) as exc:
        rig.handle(SetRoute(ROUTE, Mode.CANARY, actor="a", weight=101, service="pricing"))
    assert "weight" in exc.value.problems[0]
    with pytest.raises(TableError):
        rig.handle(SetRoute(ROUTE, Mode.NEW, actor="a", service="ghost"))
    assert len(rig.repo.versions) == 1 and rig.live == []


def test_apply_needs_a_reason_but_an_invalid_table_is_refused_first() -> None:
    rig = Rig()
    table = {"routes": [{"methods": ["GET"], "path": "/x/", "mode": "new", "service": "pricing"}]}
    with pytest.raises(ValueError, match="a reason is required"):
        rig.handle(ApplyTable(table, actor="a", reason=" "))
    with pytest.raises(TableError):
        rig.handle(ApplyTable({"routes": [{"path": "/x/", "mode": "sideways"}]}, actor="a", reason=""))
    assert rig.handle(ApplyTable(table, actor="a", reason="go")).new.kind == "apply"
    with pytest.raises(Unchanged):
        rig.handle(ApplyTable(table, actor="a", reason="again"))
    assert [v.version for v in rig.repo.versions] == [1, 2] and rig.live == [2]


def test_preview_shows_the_diff_and_changes_nothing() -> None:
    rig = Rig()
    table = {"routes": [{"methods": ["GET"], "path": "/x/", "mode": "retired"}]}
    preview = run(rig.commands.preview(table))
    assert preview["dry_run"] is True and preview["version"] == 1
    assert [c["change"] for c in preview["changes"]] == ["added"]
    assert len(rig.repo.versions) == 1


def test_rollback_to_previous_or_a_given_version() -> None:
    rig = Rig()
    rig.handle(SetRoute(ROUTE, Mode.SHADOW, actor="a"))
    rig.handle(SetRoute(ROUTE, Mode.NEW, actor="a"))
    rig.handle(SetRoute(ROUTE, Mode.CANARY, actor="a", weight=20))
    back = rig.handle(RollBack(actor="b"))
    assert rig.mode() is Mode.NEW and back.new.restored_from == 3 and back.new.reason == "rollback to previous"
    back = rig.handle(RollBack(actor="b", reason="to shadow", to=2))
    assert rig.mode() is Mode.SHADOW and (back.new.kind, back.new.restored_from) == ("rollback", 2)
    with pytest.raises(LookupError, match="no version 99"):
        rig.handle(RollBack(actor="b", to=99))
    with pytest.raises(Unchanged):
        rig.handle(RollBack(actor="b", to=2))


def test_auto_rollback_restores_the_last_safe_mode() -> None:
    rig = Rig()
    rig.handle(SetRoute(ROUTE, Mode.LEGACY, actor="a"))
    rig.handle(SetRoute(ROUTE, Mode.SHADOW, actor="a"))
    rig.handle(SetRoute(ROUTE, Mode.CANARY, actor="a", weight=5))
    rig.handle(SetRoute(ROUTE, Mode.NEW, actor="a"))
    changed = rig.handle(AutoRollBack(ROUTE, Mode.NEW, "error rate 50%", actor="proxy/1 (auto-rollback)"))
    assert rig.mode() is Mode.SHADOW  # the latest safe mode, not blindly legacy
    assert (changed.new.kind, changed.new.reason) == (
        "auto-rollback",
        f"auto-rollback of {ROUTE} from new: error rate 50%",
    )
    rig.handle(AutoRollBack(ROUTE, Mode.SHADOW, "mismatch rate", actor="p"))
    assert rig.mode() is Mode.LEGACY  # shadow falls back to legacy


def test_auto_rollback_without_a_safe_past_goes_to_legacy_and_respects_a_newer_flip() -> None:
    rig = Rig()
    rig.handle(SetRoute(ROUTE, Mode.NEW, actor="a"))
    with pytest.raises(Unchanged, match="route already changed"):
        rig.handle(AutoRollBack(ROUTE, Mode.CANARY, "p99", actor="p"))  # someone flipped it meanwhile
    rig.handle(AutoRollBack(ROUTE, Mode.NEW, "p99", actor="p"))
    assert rig.mode() is Mode.LEGACY


def test_parse_mode_names_the_choices() -> None:
    assert parse_mode("canary") is Mode.CANARY
    with pytest.raises(ValueError, match="mode must be one of legacy, shadow, canary, new, retired"):
        parse_mode("sideways")
    with pytest.raises(ValueError):
        parse_mode(None)
