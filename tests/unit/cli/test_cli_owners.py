"""``strangler routes owners`` against the proxy's real admin API, in-process."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import FakeProxy, routes

WRITES = """
routes:
  - {methods: [POST], path: /api/listings/, mode: MODE, service: market, writes: market}
  - {methods: [POST], path: '/api/listings/{id}/cancel/', mode: MODE, service: market, writes: market}
  - {methods: [POST], path: /api/sales/, mode: MODE, service: market, writes: market}
"""


def test_owners_follow_the_flip_of_the_write_routes(tmp_path: Path) -> None:
    proxy = FakeProxy(services=("pricing", "market"))
    assert json.loads(routes(proxy.transport, "owners", "--json").stdout)["owners"] == []
    for mode in ("legacy", "new"):
        table = tmp_path / f"{mode}.yaml"
        table.write_text(WRITES.replace("MODE", mode))
        assert routes(proxy.transport, "apply", str(table), "--yes", "--json").exit_code == 0
    [row] = json.loads(routes(proxy.transport, "owners", "--json").stdout)["owners"]
    assert (row["context"], row["owner"], row["route_version"]) == ("market", "market", 3)
    shown = routes(proxy.transport, "owners")
    assert shown.exit_code == 0 and "market" in shown.stdout and row["since"][:19] in shown.stdout
    listed = routes(proxy.transport, "list")
    assert [line.split("│")[7].strip() for line in listed.stdout.splitlines() if "/api/" in line] == ["market"] * 3


def test_a_table_splitting_the_write_routes_is_refused_with_their_names(tmp_path: Path) -> None:
    proxy = FakeProxy(services=("pricing", "market"))
    table = tmp_path / "split.yaml"
    table.write_text(
        WRITES.replace("MODE", "legacy").replace("path: /api/sales/, mode: legacy", "path: /api/sales/, mode: new")
    )
    result = routes(proxy.transport, "apply", str(table), "--yes", "--json")
    assert result.exit_code == 5 and "'POST /api/sales/' is new" in result.stderr
    assert json.loads(routes(proxy.transport, "owners", "--json").stdout)["owners"] == []


def test_set_writes_flips_the_context_and_the_owner_follows(tmp_path: Path) -> None:
    proxy = FakeProxy(services=("pricing", "market"))
    table = tmp_path / "legacy.yaml"
    table.write_text(WRITES.replace("MODE", "legacy"))
    assert routes(proxy.transport, "apply", str(table), "--yes", "--json").exit_code == 0
    result = routes(proxy.transport, "set-writes", "market", "--mode", "new", "--reason", "market takes over")
    assert result.exit_code == 0, result.output
    assert {r["mode"] for r in proxy.spec()["routes"]} == {"new"}
    [row] = json.loads(routes(proxy.transport, "owners", "--json").stdout)["owners"]
    assert (row["owner"], row["route_version"]) == ("market", 3)
    refused = routes(proxy.transport, "set-writes", "market", "--mode", "canary")
    assert refused.exit_code == 5 and "legacy or new" in refused.stderr
