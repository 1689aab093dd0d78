"""The monolith's HTTP contract, reproduced where pricing answers for it.

Pricing replaces two endpoints behind the strangler proxy, so its answers
must be the monolith's for the same data, down to the edges a client can
see: money as ``{"copper", "display"}`` ("1g 23s 45c"), naive wall-clock
timestamps (``datetime.isoformat()``, no offset), DRF's validation messages
and shapes, the ``{detail, code, extra}`` 404 of an unknown item, Django's
HTML 404 for a path its URLconf does not match, DRF's ``?format=`` and
``Accept`` negotiation. This module is that edge and nothing else.
"""

from __future__ import annotations

import re
from typing import Any

from new_services.platform.drf_wire import COPPER_PER_GOLD as COPPER_PER_GOLD
from new_services.platform.drf_wire import COPPER_PER_SILVER as COPPER_PER_SILVER
from new_services.platform.drf_wire import DJANGO_NOT_FOUND_HTML as DJANGO_NOT_FOUND_HTML
from new_services.platform.drf_wire import MAX_ID as MAX_ID
from new_services.platform.drf_wire import format_copper as format_copper
from new_services.platform.drf_wire import money as money
from new_services.platform.drf_wire import path_id as path_id
from new_services.platform.drf_wire import timestamp as timestamp

_DRF_DECIMAL = re.compile(r"\.0*\s*$")  # rest_framework.fields.IntegerField.re_decimal
_DRF_MAX_STRING_LENGTH = 1000


def not_found(item_id: int) -> dict[str, Any]:
    return {"detail": f"Item {item_id} not found.", "code": "not_found", "extra": {}}


class FieldErrors(Exception):
    """DRF's 400 body: ``{"field": ["message", ...]}``."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def choice(value: str | None, *, choices: list[str], default: str) -> str:
    """DRF ``ChoiceField(choices, default)`` read from a query string."""
    if value is None or value == "":
        return default
    if value not in choices:
        raise ValueError(f'"{value}" is not a valid choice.')
    return value


def integer(value: str | None, *, minimum: int, maximum: int, default: int) -> int:
    """DRF ``IntegerField(min_value, max_value, default)`` read from a query string."""
    if value is None or value == "":
        return default
    if len(value) > _DRF_MAX_STRING_LENGTH:
        raise ValueError("String value too large.")
    try:
        number = int(_DRF_DECIMAL.sub("", value))
    except (ValueError, TypeError):
        raise ValueError("A valid integer is required.") from None
    if number < minimum:
        raise ValueError(f"Ensure this value is greater than or equal to {minimum}.")
    if number > maximum:
        raise ValueError(f"Ensure this value is less than or equal to {maximum}.")
    return number


def acceptable(accept: str | None, format_param: str | None) -> int | None:
    """``None`` when a JSON answer may be given, else the status DRF's
    content negotiation answers with (404 for an unknown ``?format=``,
    406 for an ``Accept`` header that JSON does not satisfy)."""
    if format_param is not None and format_param != "json":
        return 404
    if accept is None:  # no header: DRF assumes */*
        return None
    for media in accept.split(","):
        if media.split(";", 1)[0].strip().lower() in ("*/*", "application/*", "application/json"):
            return None
    return 406  # including a header present but empty, as DRF does


NEGOTIATION_ERRORS = {
    404: {"detail": "Not found."},
    406: {"detail": "Could not satisfy the request Accept header."},
}
