"""Pydantic models of pricing's answers, for its OpenAPI document only.

The handlers build plain dicts (the contract is the monolith's, fixed to
the byte by ``legacy_contract``) and skip response validation on the hot
path; these models describe the same shapes so pricing's OpenAPI can be
checked against the monolith's (``tests/.../test_pricing_openapi.py``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, RootModel

#: ``datetime.isoformat()`` of a naive value: microseconds only when non-zero.
NAIVE_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?$"


class Money(BaseModel):
    copper: int
    display: str


class RateVolume(BaseModel):
    quantity: int
    trades: int
    value: Money


class RateChange(BaseModel):
    copper: int
    display: str
    percent: Annotated[float, Field(json_schema_extra={"format": "double"})] | None


class ItemRate(BaseModel):
    item_id: int
    sku: str
    as_of: str = Field(pattern=NAIVE_TIMESTAMP, description="naive Europe/Paris local time, no offset")
    window_hours: int
    last_price: Money | None
    last_sold_at: str | None = Field(pattern=NAIVE_TIMESTAMP, description="naive Europe/Paris local time, no offset")
    average_price_24h: Money | None
    volume_24h: RateVolume
    change_24h: RateChange | None


class CandleOut(BaseModel):
    start: str = Field(pattern=NAIVE_TIMESTAMP, description="naive Europe/Paris local time, no offset")
    open: int
    high: int
    low: int
    close: int
    volume: int
    trades: int


class ItemHistory(BaseModel):
    item_id: int
    interval: str
    days: int
    candles: list[CandleOut]


class ApplicationError(BaseModel):
    detail: str
    code: str
    extra: dict[str, object]


class Detail(BaseModel):
    detail: str


class FieldErrors(RootModel[dict[str, list[str]]]):
    """DRF's 400: ``{"field" or "non_field_errors": ["message", ...]}``."""
