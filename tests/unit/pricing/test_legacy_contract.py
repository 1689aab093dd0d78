"""Pricing's HTTP edge reproduces DRF's parsing and Django's URL matching."""

from __future__ import annotations

import pytest

from new_services.pricing.entrypoints import legacy_contract as legacy


@pytest.mark.parametrize(
    "copper, display",
    [
        (5, "5c"),
        (105, "1s 5c"),
        (10000, "1g 0s 0c"),
        (123456, "12g 34s 56c"),
        (-386, "-3s 86c"),
        (0, "0c"),
    ],
)
def test_money_display_is_the_monoliths(copper: int, display: str) -> None:
    assert legacy.money(copper) == {"copper": copper, "display": display}


@pytest.mark.parametrize(
    "raw, expected",
    [
        (None, 7),
        ("", 7),
        ("3", 3),
        (" 4 ", 4),
        ("5.0", 5),
        ("6.000  ", 6),
        ("1_0", 10),
        ("+2", 2),
    ],
)
def test_integers_parse_like_drf(raw: str | None, expected: int) -> None:
    assert legacy.integer(raw, minimum=1, maximum=90, default=7) == expected


@pytest.mark.parametrize(
    "raw, message",
    [
        ("abc", "A valid integer is required."),
        ("7.5", "A valid integer is required."),
        ("0", "Ensure this value is greater than or equal to 1."),
        ("91", "Ensure this value is less than or equal to 90."),
        ("9" * 1001, "String value too large."),
    ],
)
def test_integer_errors_say_what_drf_says(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        legacy.integer(raw, minimum=1, maximum=90, default=7)


def test_choices_and_path_ids() -> None:
    assert legacy.choice("", choices=["1h", "5m"], default="1h") == "1h"
    with pytest.raises(ValueError, match=r'"2h" is not a valid choice\.'):
        legacy.choice("2h", choices=["1h", "5m"], default="1h")
    assert legacy.path_id("007") == 7
    assert legacy.path_id("7a") is None and legacy.path_id("-1") is None and legacy.path_id("٣") is None


@pytest.mark.parametrize(
    "accept, fmt, status",
    [
        (None, None, None),
        ("text/html", None, 406),
        ("", None, 406),
        ("text/plain, */*;q=0.1", None, None),
        ("application/json; indent=4", None, None),
        (None, "json", None),
        (None, "xml", 404),
    ],
)
def test_content_negotiation_answers_like_drf(accept: str | None, fmt: str | None, status: int | None) -> None:
    assert legacy.acceptable(accept, fmt) == status
