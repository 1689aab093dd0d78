"""Field-level JSON diff, ignore rules and noise learning."""

from __future__ import annotations

import json

from strangler_proxy.diff import IgnoreRules, compare, generalise, json_diff, learn_noise

JSON_HDR = {"content-type": "application/json"}


def ans(status: int, payload: object) -> tuple[int, dict[str, str], bytes]:
    return status, dict(JSON_HDR), json.dumps(payload).encode()


def test_json_diff_addresses_leaves() -> None:
    a = {"x": 1, "items": [{"p": 1}, {"p": 2}], "gone": True}
    b = {"x": 1, "items": [{"p": 1}, {"p": 3}, {"p": 4}], "new": None}
    paths = {d.path for d in json_diff(a, b)}
    assert paths == {"$.items[1].p", "$.items[2]", "$.gone", "$.new"}


def test_int_and_float_equal_values_match_but_bool_does_not_equal_int() -> None:
    assert json_diff({"a": 1}, {"a": 1.0}) == []
    assert [d.path for d in json_diff({"a": 1}, {"a": True})] == ["$.a"]


def test_ignore_rules_cover_subtrees_and_wildcards() -> None:
    rules = IgnoreRules(["$.as_of", "$.items[*].ts", "$.meta.*"])
    assert rules.ignored("$.as_of")
    assert rules.ignored("$.as_of.nested")
    assert rules.ignored("$.items[3].ts")
    assert rules.ignored("$.meta.anything")
    assert not rules.ignored("$.as_of_day")
    assert not rules.ignored("$.items[3].price")


def test_compare_status_headers_and_body() -> None:
    res = compare(
        ans(200, {"a": 1}),
        (500, {"content-type": "text/html"}, b"oops"),
        headers=("content-type",),
        ignore=IgnoreRules([]),
        noise=set(),
    )
    assert [d.path for d in res.differences] == ["status", "headers.content-type", "$"]


def test_learned_noise_is_generalised_and_excluded() -> None:
    first = ans(200, {"rate": 5, "rows": [{"ts": 1}], "as_of": "a"})
    second = ans(200, {"rate": 5, "rows": [{"ts": 2}], "as_of": "b"})
    noise = learn_noise(first, second)
    assert noise == {"$.rows[*].ts", "$.as_of"}
    new = ans(200, {"rate": 6, "rows": [{"ts": 3}], "as_of": "c"})
    res = compare(first, new, headers=(), ignore=IgnoreRules([]), noise=noise)
    assert [d.path for d in res.differences] == ["$.rate"]
    assert {d.path for d in res.noise} == {"$.rows[0].ts", "$.as_of"}
    assert generalise("$.a[12].b[0]") == "$.a[*].b[*]"
