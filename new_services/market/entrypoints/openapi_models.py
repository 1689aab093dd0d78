"""The shapes of the monolith's answers and inputs, for the OpenAPI document
only: the handlers render pre-built JSON (``legacy_contract.py``) without
response-model validation, so these never touch a request."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Money(BaseModel):
    copper: int
    display: str = Field(examples=["1g 23s 45c"])


class Listing(BaseModel):
    id: int
    item_id: int
    seller_id: int
    quantity: int
    quantity_remaining: int
    unit_price: Money
    status: str = Field(description="O open, F filled, C cancelled, X expired")
    status_label: str
    created_at: str = Field(description="naive wall-clock time (Europe/Paris), isoformat")
    updated_at: str


class Sale(BaseModel):
    id: int
    listing_id: int
    item_id: int
    buyer_id: int
    seller_id: int
    quantity: int
    unit_price: Money
    total: Money
    fee: Money
    sold_at: str


class ListingPage(BaseModel):
    count: int
    next: str | None
    previous: str | None
    results: list[Listing]


class SalePage(BaseModel):
    count: int
    next: str | None
    previous: str | None
    results: list[Sale]


class ListingCreateInput(BaseModel):
    item: int
    quantity: int = Field(ge=1, le=1_000_000)
    unit_price_copper: int = Field(ge=1, le=10**12)


class SaleCreateInput(BaseModel):
    listing: int
    quantity: int = Field(ge=1, le=1_000_000)


class ApplicationError(BaseModel):
    detail: str
    code: str
    extra: dict[str, Any]


class Detail(BaseModel):
    detail: str


def error(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"model": model, "description": description}


FIELD_ERRORS = {
    "description": "DRF's field errors: {field: [message]} (or {non_field_errors: [...]}, {detail} for a parse error)",
    "content": {"application/json": {"schema": {"type": "object", "additionalProperties": {"type": "array"}}}},
}
UNAUTHENTICATED = error(Detail, "no identity on a write, or an invalid token (also on reads)")


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON body the handler parses itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}},
                "application/x-www-form-urlencoded": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}},
            },
        }
    }
