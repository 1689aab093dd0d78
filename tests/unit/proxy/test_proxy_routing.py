"""Route table: matching, specificity, ties and validation."""

from __future__ import annotations

import pytest

from strangler_proxy.routing import Mode, RouteTable, TableError, diff_specs, parse_route_key, set_route

SERVICES = ["pricing", "market"]


def table(*routes: dict) -> RouteTable:
    return RouteTable.from_spec({"routes": list(routes)}, SERVICES)


def test_literal_beats_param_beats_rest() -> None:
    t = table(
        {"methods": ["GET"], "path": "/api/items/{id}/rate/", "mode": "new", "service": "pricing"},
        {"methods": ["GET"], "path": "/api/items/special/rate/", "mode": "retired"},
        {"methods": ["GET"], "path": "/api/{rest:path}", "mode": "shadow", "service": "market"},
    )
    assert t.match("GET", "/api/items/special/rate/").mode == "retired"
    assert t.match("GET", "/api/items/7/rate/").mode == "new"
    assert t.match("GET", "/api/other/thing").mode == "shadow"
    assert t.match("GET", "/elsewhere/") is None
    assert t.match("POST", "/api/items/7/rate/") is None


def test_param_matches_exactly_one_nonempty_segment() -> None:
    t = table({"methods": ["GET"], "path": "/api/items/{id}/", "mode": "new", "service": "pricing"})
    assert t.match("GET", "/api/items/5/") is not None
    assert t.match("GET", "/api/items//") is None
    assert t.match("GET", "/api/items/5/extra/") is None
    assert t.match("GET", "/api/items/5") is None


def test_leftmost_literal_decides_between_overlapping_shapes() -> None:
    t = table(
        {"methods": ["GET"], "path": "/a/{x}", "mode": "legacy"},
        {"methods": ["GET"], "path": "/{y}/b", "mode": "retired"},
    )
    assert t.match("GET", "/a/b").path == "/a/{x}"
    assert t.match("GET", "/z/b").path == "/{y}/b"


def test_equally_specific_overlap_is_refused() -> None:
    with pytest.raises(TableError) as exc:
        table(
            {"methods": ["GET", "POST"], "path": "/api/items/{id}/", "mode": "legacy"},
            {"methods": ["GET"], "path": "/api/items/{pk}/", "mode": "new", "service": "pricing"},
        )
    assert "overlap" in str(exc.value)


def test_same_template_with_disjoint_methods_is_fine() -> None:
    t = table(
        {"methods": ["GET"], "path": "/api/items/{id}/", "mode": "new", "service": "pricing"},
        {"methods": ["DELETE"], "path": "/api/items/{id}/", "mode": "legacy"},
    )
    assert t.match("GET", "/api/items/1/").mode == "new"
    assert t.match("DELETE", "/api/items/1/").mode == "legacy"


@pytest.mark.parametrize(
    "route, needle",
    [
        ({"path": "/x/", "mode": "new", "service": "nope"}, "unknown service"),
        ({"path": "/x/", "mode": "canary", "service": "pricing", "weight": 101}, "weight"),
        ({"path": "/x/", "mode": "canary", "service": "pricing", "weight": -1}, "weight"),
        ({"path": "/x/", "mode": "sideways"}, "mode"),
        ({"path": "/x/", "mode": "new"}, "needs a service"),
        ({"path": "x/", "mode": "legacy"}, "start with"),
        ({"path": "/a/../b", "mode": "legacy"}, "'..'"),
        ({"path": "/a/{rest:path}/b", "mode": "legacy"}, "last segment"),
        ({"path": "/x/", "methods": ["BREW"]}, "methods"),
        ({"path": "/x/", "limits": {"p99": 3}}, "unknown limits"),
    ],
)
def test_invalid_routes_refuse_the_whole_table(route: dict, needle: str) -> None:
    good = {"methods": ["GET"], "path": "/ok/", "mode": "legacy"}
    with pytest.raises(TableError) as exc:
        table(good, {"methods": ["GET"], **route})
    assert any(needle in p for p in exc.value.problems), exc.value.problems


def test_every_problem_is_reported() -> None:
    with pytest.raises(TableError) as exc:
        table(
            {"path": "/a/", "mode": "new", "service": "x"},
            {"path": "/b/", "mode": "canary", "service": "pricing", "weight": 500},
        )
    assert len(exc.value.problems) == 2


def test_spec_round_trip_and_keys() -> None:
    t = table(
        {
            "methods": ["HEAD", "GET"],
            "path": "/api/items/{id}/rate/",
            "mode": "canary",
            "service": "pricing",
            "weight": 5,
        }
    )
    again = RouteTable.from_spec(t.to_spec(), SERVICES)
    assert again.routes[0].key == "GET,HEAD /api/items/{id}/rate/"
    assert again.routes[0].weight == 5
    assert again.find("GET /api/items/{id}/rate/") is not None
    assert parse_route_key("get,head /x/") == (frozenset({"GET", "HEAD"}), "/x/")


def test_set_route_adds_or_changes_and_diff_shows_it() -> None:
    spec = {"routes": [{"methods": ["GET"], "path": "/a/", "mode": "legacy"}]}
    changed = set_route(spec, "GET /a/", mode=Mode.NEW, services=["pricing"])
    assert changed["routes"][0]["service"] == "pricing"
    added = set_route(changed, "POST /b/", mode=Mode.LEGACY, services=SERVICES)
    assert len(added["routes"]) == 2
    assert spec["routes"][0]["mode"] == "legacy"  # input untouched
    diff = diff_specs(spec, added)
    assert [(d["route"], d["change"]) for d in diff] == [("GET /a/", "changed"), ("POST /b/", "added")]
    assert diff[0]["fields"]["mode"] == ["legacy", "new"]


def test_modes_are_an_enum_and_specs_keep_plain_words() -> None:
    import json

    import yaml

    t = table({"methods": ["GET"], "path": "/x/", "mode": "canary", "service": "pricing", "weight": 5})
    assert t.routes[0].mode is Mode.CANARY
    spec = t.to_spec()
    assert type(spec["routes"][0]["mode"]) is str and spec["routes"][0]["mode"] == "canary"
    assert "canary" in yaml.safe_dump(spec) and json.loads(json.dumps(spec)) == spec
    changed = set_route(spec, "GET /x/", mode=Mode.NEW)
    assert type(changed["routes"][0]["mode"]) is str and changed["routes"][0]["mode"] == "new"
    with pytest.raises(TableError) as exc:
        table({"methods": ["GET"], "path": "/x/", "mode": ["legacy"]})
    assert "is not one of legacy, shadow, canary, new, retired" in exc.value.problems[0]
