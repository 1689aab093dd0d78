"""The lean front reads a request as Starlette would, so the same answer
comes out whichever road a request takes."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.routing import compile_path

from new_services.pricing.entrypoints.front import ITEM_READ, header, query_params


def scope(query: bytes, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": "/", "query_string": query, "headers": headers}


@given(st.binary(max_size=60))
def test_query_parameters_as_starlette_reads_them(raw: bytes) -> None:
    request = Request(scope(raw, []))
    assert query_params(request.scope) == {key: request.query_params.get(key) for key in request.query_params}


@given(st.lists(st.tuples(st.sampled_from([b"accept", b"x-other"]), st.binary(max_size=20)), max_size=4))
def test_the_accept_header_as_starlette_reads_it(headers: list[tuple[bytes, bytes]]) -> None:
    assert header(scope(b"", headers), b"accept") == Request(scope(b"", headers)).headers.get("accept")


@given(st.text(alphabet="0123456789ab/%.-", max_size=12))
def test_the_paths_starlette_would_route_to_the_item_reads(segment: str) -> None:
    path = f"/api/items/{segment}/rate/"
    starlette_pattern = compile_path("/api/items/{item_id}/rate/")[0]
    assert (ITEM_READ.fullmatch(path) is not None) == (starlette_pattern.match(path) is not None)
