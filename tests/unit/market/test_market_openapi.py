"""market's OpenAPI document names the monolith's five market operations
with the monolith's paths, operation ids, query parameters and answers (plus
the 503 of a write that could not complete, which the monolith never gives)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from new_services.market.bootstrap import bootstrap
from new_services.market.entrypoints.http import create_app
from new_services.market.settings import MarketSettings

OWNED = {
    ("/api/listings/", "get"): "listings_list",
    ("/api/listings/", "post"): "listings_create",
    ("/api/listings/{listing_id}/cancel/", "post"): "listings_cancel",
    ("/api/sales/", "get"): "sales_list",
    ("/api/sales/", "post"): "sales_create",
}
ONLY_THE_MARKET = {"503"}


@pytest.fixture(scope="module")
def legacy_doc() -> dict[str, Any]:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def market_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    keys: Path = tmp_path_factory.mktemp("keys") / "identity-keys.json"
    env = {
        "STRANGLER_MARKET_DATABASE_URL": "postgresql://market@127.0.0.1:1/market",
        "STRANGLER_ADMIN_TOKEN": "t",
        "STRANGLER_LEGACY_URL": "http://127.0.0.1:1",
        "STRANGLER_INTERNAL_TOKEN": "i",
        "STRANGLER_IDENTITY_KEYS": str(keys),
    }
    return create_app(bootstrap(MarketSettings.from_env(env))).openapi()


def query_names(operation: dict[str, Any]) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}


@pytest.mark.parametrize(("path", "method"), list(OWNED))
def test_each_operation_matches_the_monoliths(
    path: str, method: str, legacy_doc: dict[str, Any], market_doc: dict[str, Any]
) -> None:
    theirs = legacy_doc["paths"][path][method]
    ours = market_doc["paths"][path][method]
    assert ours["operationId"] == theirs["operationId"] == OWNED[(path, method)]
    assert query_names(ours) == query_names(theirs)
    assert set(ours["responses"]) - ONLY_THE_MARKET <= set(theirs["responses"])
    assert ("requestBody" in ours) == ("requestBody" in theirs)


def test_the_input_schemas_are_documented(market_doc: dict[str, Any]) -> None:
    schemas = market_doc["components"]["schemas"]
    assert set(schemas["SaleCreateInput"]["required"]) == {"listing", "quantity"}
    assert schemas["ListingCreateInput"]["properties"]["unit_price_copper"]["maximum"] == 10**12
