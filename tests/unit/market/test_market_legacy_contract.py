"""The market's edge speaks DRF: the same validation messages and shapes,
the same pagination links, the same parse errors and rendering."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from new_services.market.domain.model import Listing
from new_services.market.entrypoints import legacy_contract as legacy


async def _exists(name: str, pk: int) -> bool:
    return pk in (1, 7)


def validate(data: Any, fields: tuple[legacy.InputField, ...] = legacy.LISTING_INPUT) -> Any:
    try:
        return asyncio.run(legacy.validate_input(data, fields, _exists))
    except legacy.ValidationFailed as exc:
        return exc.body


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"item": 7, "quantity": "3", "unit_price_copper": 5.0}, {"item": 7, "quantity": 3, "unit_price_copper": 5}),
        (
            {},
            {
                "item": ["This field is required."],
                "quantity": ["This field is required."],
                "unit_price_copper": ["This field is required."],
            },
        ),
        (
            {"item": "", "quantity": 0, "unit_price_copper": 10**12 + 1},
            {
                "item": ["This field may not be null."],
                "quantity": ["Ensure this value is greater than or equal to 1."],
                "unit_price_copper": ["Ensure this value is less than or equal to 1000000000000."],
            },
        ),
        (
            {"item": 99, "quantity": 1.5, "unit_price_copper": True},
            {
                "item": ['Invalid pk "99" - object does not exist.'],
                "quantity": ["A valid integer is required."],
                "unit_price_copper": ["A valid integer is required."],
            },
        ),
        (
            {"item": "x", "quantity": None, "unit_price_copper": "1" * 1001},
            {
                "item": ["Incorrect type. Expected pk value, received str."],
                "quantity": ["This field may not be null."],
                "unit_price_copper": ["String value too large."],
            },
        ),
        (
            {"item": [1], "quantity": 1, "unit_price_copper": 1},
            {"item": ["Incorrect type. Expected pk value, received list."]},
        ),
        ([1], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        (None, {"non_field_errors": ["No data provided"]}),
    ],
)
def test_input_validation_as_drf(data: Any, expected: Any) -> None:
    assert validate(data) == expected


def test_filters_ignore_blanks_and_refuse_bad_values_with_drf_messages() -> None:
    params = {"item": "", "seller": "0", "status": "Z"}
    with pytest.raises(legacy.ValidationFailed) as failed:
        legacy.query_filters(params, ("item", "seller"), {"status": ["O", "F", "C", "X"]})
    assert failed.value.body == {
        "seller": ["Ensure this value is greater than or equal to 1."],
        "status": ['"Z" is not a valid choice.'],
    }
    assert legacy.query_filters({"item": "3.0", "status": "O"}, ("item",), {"status": ["O"]}) == {
        "item": 3,
        "status": "O",
    }


def test_pagination_as_drf_limit_offset() -> None:
    assert legacy.page_window({"limit": "0", "offset": "-1"}) == (50, 0)
    assert legacy.page_window({"limit": "2", "offset": "3"}) == (2, 3)
    page = legacy.paginated("http://h/api/sales/?offset=3&limit=2&item=1", 10, 2, 3, [])
    assert page["next"] == "http://h/api/sales/?item=1&limit=2&offset=5"
    assert page["previous"] == "http://h/api/sales/?item=1&limit=2&offset=1"
    first = legacy.paginated("http://h/api/sales/?offset=1", 10, 2, 1, [])
    assert first["previous"] == "http://h/api/sales/?limit=2"
    assert legacy.paginated("http://h/api/sales/", 2, 50, 0, [])["next"] is None


def test_bodies_parse_as_drf_parsers() -> None:
    assert legacy.parse_body("application/json; charset=utf-8", b'{"a": 1}') == ({"a": 1}, False)
    assert legacy.parse_body("application/x-www-form-urlencoded", b"a=1&a=2&b=") == ({"a": "2", "b": ""}, True)
    assert legacy.parse_body("", b"") == ({}, False)
    with pytest.raises(legacy.UnsupportedMediaType) as unsupported:
        legacy.parse_body("text/plain", b"x")
    assert unsupported.value.body == {"detail": 'Unsupported media type "text/plain" in request.'}
    with pytest.raises(legacy.ValidationFailed) as malformed:
        legacy.parse_body("application/json", b"{")
    assert malformed.value.body == {
        "detail": "JSON parse error - Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    }


def test_rendering_is_drf_json() -> None:
    wall = dt.datetime(2026, 12, 1, 13, 0, 0, 120000)
    listing = Listing(5, 1, 7, 3, 2, 123456, "O", wall, wall.replace(microsecond=0))
    assert legacy.render(legacy.listing_json(listing)) == (
        b'{"id":5,"item_id":7,"seller_id":1,"quantity":3,"quantity_remaining":2,'
        b'"unit_price":{"copper":123456,"display":"12g 34s 56c"},"status":"O","status_label":"Open",'
        b'"created_at":"2026-12-01T13:00:00.120000","updated_at":"2026-12-01T13:00:00"}'
    )
    assert legacy.render({"d": "é\u2028"}) == '{"d":"é\\u2028"}'.encode()


def test_integer_fields_agree_with_drf_on_arbitrary_values() -> None:
    """Held against DRF's own IntegerField (the monolith's dependency, read in the test only)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from rest_framework import serializers

    drf = serializers.IntegerField(min_value=1, max_value=legacy.MAX_QUANTITY)
    values = st.one_of(
        st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12), st.booleans()
    )

    @settings(max_examples=300, deadline=None)
    @given(values)
    def check(value: Any) -> None:
        try:
            expected: Any = drf.run_validation(value)
        except serializers.ValidationError as exc:
            expected = [str(m) for m in exc.detail]  # type: ignore[union-attr]
        field = legacy.InputField("quantity")
        got = validate({"quantity": value}, (field,))
        assert got["quantity"] == expected

    check()
