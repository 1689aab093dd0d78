"""One writer per context: validation of write routes (``writes: <context>``)
and the owner recorded with the route version, over the in-memory route
repository (the same rule ``RouteStore`` runs in its transaction)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from proxy_fakes import FakeRouteRepository

from strangler_proxy.admin import AdminApi
from strangler_proxy.route_commands import ApplyTable, AutoRollBack, RollBack, RouteCommands, SetRoute, SetWrites
from strangler_proxy.route_repository import Unchanged, Version
from strangler_proxy.routing import Mode, RouteTable, TableError, write_owners

SERVICES = ["market", "pricing"]
LISTINGS, CANCEL, SALES = "POST /api/listings/", "POST /api/listings/{id}/cancel/", "POST /api/sales/"
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def market_writes(mode: str = "legacy", **overrides: dict[str, Any]) -> dict[str, Any]:
    routes = [
        {"methods": ["POST"], "path": "/api/listings/", "mode": mode, "service": "market", "writes": "market"},
        {
            "methods": ["POST"],
            "path": "/api/listings/{id}/cancel/",
            "mode": mode,
            "service": "market",
            "writes": "market",
        },
        {"methods": ["POST"], "path": "/api/sales/", "mode": mode, "service": "market", "writes": "market"},
        {"methods": ["GET", "HEAD"], "path": "/api/items/{id}/rate/", "mode": "shadow", "service": "pricing"},
    ]
    for route in routes:
        key = f"{','.join(route['methods'])} {route['path']}"
        route.update(overrides.get(key, {}))
    return {"routes": routes}


def problems_of(spec: dict[str, Any]) -> list[str]:
    with pytest.raises(TableError) as refused:
        RouteTable.from_spec(spec, SERVICES)
    return refused.value.problems


# -- validation ---------------------------------------------------------------------


def test_write_routes_all_legacy_or_all_new_are_valid_and_keep_writes_in_the_spec() -> None:
    for mode in ("legacy", "new"):
        table = RouteTable.from_spec(market_writes(mode), SERVICES)
        assert {r.key: r.writes for r in table.routes if r.writes} == dict.fromkeys((LISTINGS, CANCEL, SALES), "market")
        assert RouteTable.from_spec(table.to_spec(), SERVICES).to_spec() == table.to_spec()
        assert all(
            r.get("writes") == "market" for r in table.to_spec()["routes"] if r["path"] != "/api/items/{id}/rate/"
        )


def test_write_routes_of_one_context_with_different_modes_are_refused_naming_them() -> None:
    [problem] = problems_of(market_writes("legacy", **{SALES: {"mode": "new"}}))
    assert "'market'" in problem and "same mode" in problem
    for key, mode in ((LISTINGS, "legacy"), (CANCEL, "legacy"), (SALES, "new")):
        assert f"{key!r} is {mode}" in problem


@pytest.mark.parametrize("mode", ["shadow", "canary", "retired"])
def test_a_write_route_may_not_be_shadowed_canaried_or_retired(mode: str) -> None:
    spec = market_writes(mode)
    if mode == "canary":
        for r in spec["routes"]:
            r.setdefault("weight", 10)
    [problem] = problems_of(spec)
    assert "legacy or new" in problem and f"{SALES!r} is {mode}" in problem and f"{LISTINGS!r} is {mode}" in problem


def test_new_write_routes_of_one_context_need_one_service() -> None:
    [problem] = problems_of(market_writes("new", **{SALES: {"service": "pricing"}}))
    assert "same service" in problem and f"{SALES!r} to pricing" in problem


def test_writes_must_name_a_context() -> None:
    [problem] = problems_of(market_writes("legacy", **{SALES: {"writes": "Market Place"}}))
    assert "writes must name a context" in problem


def test_the_owner_is_the_service_when_new_else_legacy() -> None:
    assert write_owners(market_writes("new")) == {"market": "market"}
    assert write_owners(market_writes("legacy")) == {"market": "legacy"}
    assert write_owners({"routes": [{"path": "/x/", "mode": "new", "service": "market"}]}) == {}


def test_the_example_table_marks_the_three_market_write_routes() -> None:
    example = yaml.safe_load((Path(__file__).resolve().parents[3] / "routes.example.yaml").read_text())
    table = RouteTable.from_spec(example, SERVICES)
    writes = {r.key: (r.writes, r.service, r.mode) for r in table.routes if r.writes}
    assert writes == dict.fromkeys((LISTINGS, CANCEL, SALES), ("market", "market", Mode.LEGACY))


# -- the owner recorded with the route version ----------------------------------------


class Rig:
    def __init__(self) -> None:
        self.repo = FakeRouteRepository()

        async def apply(_v: Version) -> None:
            return None

        self.commands = RouteCommands(self.repo, SERVICES, apply)

    def owners(self) -> list[tuple[str, str, int]]:
        return [(o.context, o.owner, o.route_version) for o in run(self.repo.owners())]


def test_no_owner_row_until_a_table_names_write_routes() -> None:
    rig = Rig()
    run(rig.commands.handle(SetRoute("GET /api/items/{id}/rate/", Mode.SHADOW, "ann", service="pricing")))
    assert rig.owners() == []


def test_flipping_the_write_routes_records_the_owner_with_that_version() -> None:
    rig = Rig()
    first = run(rig.commands.handle(ApplyTable(market_writes("legacy"), "ann", "declare market writes")))
    assert rig.owners() == [("market", "legacy", first.new.version)]
    flip = run(rig.commands.handle(ApplyTable(market_writes("new"), "ann", "market takes the writes")))
    [row] = run(rig.repo.owners())
    assert (row.owner, row.route_version, row.since) == ("market", flip.new.version, flip.new.created_at)
    # a change that leaves the owner alone keeps its row (and its `since`)
    other = market_writes("new", **{"GET,HEAD /api/items/{id}/rate/": {"mode": "legacy"}})
    run(rig.commands.handle(ApplyTable(other, "ann", "pricing back")))
    assert run(rig.repo.owners()) == [row]
    back = run(rig.commands.handle(RollBack("ann", "undo", to=first.new.version)))
    assert rig.owners() == [("market", "legacy", back.new.version)]


def test_dropping_the_write_routes_gives_the_context_back_to_legacy() -> None:
    rig = Rig()
    run(rig.commands.handle(ApplyTable(market_writes("new"), "ann", "market writes")))
    gone = run(rig.commands.handle(ApplyTable({"routes": []}, "ann", "no routes")))
    assert rig.owners() == [("market", "legacy", gone.new.version)]


def test_a_flip_back_to_legacy_names_the_service_handing_the_writes_back() -> None:
    """The monolith takes no write until that service's last events are
    applied (docs/market-write-side.md, "Handing the writes back")."""
    rig = Rig()

    def handover() -> list[str | None]:
        return [o.handover_from for o in run(rig.repo.owners())]

    run(rig.commands.handle(ApplyTable(market_writes("legacy"), "ann", "declare")))
    assert handover() == [None]  # legacy from the start: nothing to hand back
    run(rig.commands.handle(ApplyTable(market_writes("new"), "ann", "market writes")))
    assert handover() == [None]
    run(rig.commands.handle(ApplyTable(market_writes("legacy"), "ann", "back")))
    assert rig.owners()[0][1] == "legacy" and handover() == ["market"]
    run(rig.commands.handle(ApplyTable(market_writes("new"), "ann", "market again")))
    assert handover() == [None]  # the service takes them again: no handback pending
    run(rig.commands.handle(ApplyTable({"routes": []}, "ann", "no routes")))
    assert handover() == ["market"]


def test_a_refused_table_changes_neither_the_version_nor_the_owner() -> None:
    rig = Rig()
    run(rig.commands.handle(ApplyTable(market_writes("legacy"), "ann", "declare")))
    before = (list(rig.repo.versions), rig.owners())
    with pytest.raises(TableError):
        run(rig.commands.handle(SetRoute(SALES, Mode.NEW, "ann", "only one of three")))
    with pytest.raises(Unchanged):
        run(rig.commands.handle(ApplyTable(market_writes("legacy"), "ann", "again")))
    assert (list(rig.repo.versions), rig.owners()) == before


def test_auto_rollback_of_a_write_route_takes_its_whole_context_to_legacy() -> None:
    rig = Rig()
    run(rig.commands.handle(ApplyTable(market_writes("new"), "ann", "market writes")))
    changed = run(rig.commands.handle(AutoRollBack(SALES, Mode.NEW, "error rate 0.5", "proxy")))
    table = RouteTable.from_spec(changed.new.spec, SERVICES)
    assert {r.mode for r in table.routes if r.writes} == {Mode.LEGACY}
    assert rig.owners() == [("market", "legacy", changed.new.version)]


def test_admin_api_lists_owners_behind_the_token() -> None:
    rig = Rig()
    flip = run(rig.commands.handle(ApplyTable(market_writes("new"), "ann", "market writes")))
    api = AdminApi(
        token="tok",
        commands=rig.commands,
        routes=rig.repo,
        mismatches=rig.repo,
        live_version=lambda: 1,
        metrics_text=str,
        status=dict,
    )
    status, body, _ = run(api.handle("GET", b"/_strangler/owners", [(b"authorization", b"Bearer tok")], b""))
    assert status == 200
    assert json.loads(body)["owners"] == [
        {
            "context": "market",
            "owner": "market",
            "since": flip.new.created_at.isoformat(),
            "route_version": 2,
            "handover_from": None,
            "handover_offsets": None,
        }
    ]
    status, _, _ = run(api.handle("GET", b"/_strangler/owners", [], b""))
    assert status == 401


def test_set_writes_flips_every_write_route_of_the_context_in_one_version() -> None:
    rig = Rig()
    spec = market_writes("legacy")
    for r in spec["routes"]:
        if r.get("writes"):
            del r["service"]
    run(rig.commands.handle(ApplyTable(spec, "ann", "declare")))
    flip = run(rig.commands.handle(SetWrites("market", Mode.NEW, "ann", service="market")))
    table = RouteTable.from_spec(flip.new.spec, SERVICES)
    assert {(r.mode, r.service) for r in table.routes if r.writes} == {(Mode.NEW, "market")}
    assert table.find("GET,HEAD /api/items/{id}/rate/").mode is Mode.SHADOW  # other routes untouched
    assert rig.owners() == [("market", "market", flip.new.version)] and flip.new.reason.startswith("set the writes")
    with pytest.raises(TableError, match="legacy or new"):
        run(rig.commands.handle(SetWrites("market", Mode.SHADOW, "ann")))
    with pytest.raises(LookupError, match="no route writes 'players'"):
        run(rig.commands.handle(SetWrites("players", Mode.NEW, "ann", service="market")))
    assert len(rig.repo.versions) == 3
