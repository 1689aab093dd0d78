"""The two item reads as HTTP answers, whoever serves them: the framework
routes (``http.py``) and the lean front (``front.py``) both call these.

An answer is computed from the path segment, the ``Accept`` header and the
query parameters in the order Django and DRF decide: the URLconf's ``<int>``
match, then content negotiation, then the filters, then the item.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from new_services.pricing.domain.model import Candle, ItemRate
from new_services.pricing.domain.windows import INTERVALS, RATE_WINDOW
from new_services.pricing.entrypoints import legacy_contract as legacy
from new_services.pricing.service_layer.reads import PricingReads, Series

HISTORY_MAX_DAYS = 90
HISTORY_MAX_CANDLES = 3000
HISTORY_INTERVAL_CHOICES = sorted(INTERVALS)
JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = JSON_TYPE


def json_answer(content: Any, status: int = 200) -> Answer:
    return Answer(status, orjson.dumps(content))


DJANGO_NOT_FOUND = Answer(404, legacy.DJANGO_NOT_FOUND_HTML.encode(), HTML_TYPE)
NEGOTIATION_REFUSALS = {status: json_answer(body, status) for status, body in legacy.NEGOTIATION_ERRORS.items()}


def rate_json(rate: ItemRate) -> dict[str, Any]:
    change = rate.change
    return {
        "item_id": rate.item_id,
        "sku": rate.sku,
        "as_of": legacy.timestamp(rate.as_of),
        "window_hours": int(RATE_WINDOW.total_seconds() // 3600),
        "last_price": legacy.money(rate.last_price) if rate.last_price is not None else None,
        "last_sold_at": legacy.timestamp(rate.last_sold_at) if rate.last_sold_at else None,
        "average_price_24h": legacy.money(rate.average_price) if rate.average_price is not None else None,
        "volume_24h": {
            "quantity": rate.volume_quantity,
            "trades": rate.volume_trades,
            "value": legacy.money(rate.volume_value),
        },
        "change_24h": None if change is None else {**legacy.money(change), "percent": rate.change_percent},
    }


def candle_json(bucket: dt.datetime, candle: Candle) -> dict[str, Any]:
    return {
        "start": legacy.timestamp(bucket),
        "open": candle.open,
        "high": candle.high,
        "low": candle.low,
        "close": candle.close,
        "volume": candle.volume,
        "trades": candle.trades,
    }


def history_filters(params: Mapping[str, str]) -> tuple[str, int]:
    """``interval`` and ``days`` as DRF validates them (same messages, same order)."""
    errors: dict[str, list[str]] = {}
    interval, days = "1h", 7
    try:
        interval = legacy.choice(params.get("interval"), choices=HISTORY_INTERVAL_CHOICES, default="1h")
    except ValueError as exc:
        errors["interval"] = [str(exc)]
    try:
        days = legacy.integer(params.get("days"), minimum=1, maximum=HISTORY_MAX_DAYS, default=7)
    except ValueError as exc:
        errors["days"] = [str(exc)]
    if not errors:
        count = int(days * INTERVALS["1d"] / INTERVALS[interval])
        if count > HISTORY_MAX_CANDLES:
            errors["non_field_errors"] = [
                f"{count} candles requested; at most {HISTORY_MAX_CANDLES}: use a wider interval or fewer days."
            ]
    if errors:
        raise legacy.FieldErrors(errors)
    return interval, days


def _item_or_refusal(segment: str, accept: str | None, params: Mapping[str, str]) -> int | Answer:
    """The item id of the path, or what Django and DRF answer before a view
    runs: the HTML 404 of an id that is not a number, then content negotiation."""
    number = legacy.path_id(segment)
    if number is None:
        return DJANGO_NOT_FOUND
    refused = legacy.acceptable(accept, params.get("format"))
    return number if refused is None else NEGOTIATION_REFUSALS[refused]


async def rate(reads: PricingReads, segment: str, accept: str | None, params: Mapping[str, str]) -> Answer:
    """``GET /api/items/{segment}/rate/``."""
    number = _item_or_refusal(segment, accept, params)
    if isinstance(number, Answer):
        return number
    found = await reads.rate(number) if number <= legacy.MAX_ID else None
    return json_answer(legacy.not_found(number), 404) if found is None else json_answer(rate_json(found))


async def history(reads: PricingReads, segment: str, accept: str | None, params: Mapping[str, str]) -> Answer:
    """``GET /api/items/{segment}/history/``."""
    number = _item_or_refusal(segment, accept, params)
    if isinstance(number, Answer):
        return number
    try:
        interval, days = history_filters(params)
    except legacy.FieldErrors as exc:
        return json_answer(exc.errors, 400)
    if number > legacy.MAX_ID:
        return json_answer(legacy.not_found(number), 404)
    facts = await reads.history(number, interval=interval, days=days)
    if facts.value is None:
        return json_answer(legacy.not_found(number), 404)

    def render(series: Series | None) -> bytes:
        return orjson.dumps(
            {
                "item_id": number,
                "interval": interval,
                "days": days,
                "candles": [candle_json(bucket, candle) for bucket, candle in series or ()],
            }
        )

    return Answer(200, facts.rendered(render))
