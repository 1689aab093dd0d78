"""pricing's OpenAPI is compatible with the monolith's for the operations it
owns: a client written against the monolith's document keeps working.

Compatible means: the same paths, operation ids and parameters (name,
place, type, bounds, default); every answer pricing documents is one the
monolith documents, with a schema that is the same or narrower (no new
field, no new type, nothing optional made required on the client's side).
"""

from __future__ import annotations

from typing import Any

import pytest

from new_services.pricing.bootstrap import bootstrap
from new_services.pricing.entrypoints.http import create_app
from new_services.pricing.settings import PricingSettings

OWNED = {"/api/items/{item_id}/rate/": "items_rate", "/api/items/{item_id}/history/": "items_history"}
#: Answers the monolith documents that pricing does not give, and why.
NOT_GIVEN_BY_PRICING = {
    "401": "an invalid DRF token: pricing does not know the monolith's tokens "
    "(identity across the flip is the proxy's signed header, issue 10)",
}


@pytest.fixture(scope="module")
def legacy_doc() -> dict[str, Any]:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def pricing_doc() -> dict[str, Any]:
    env = {"STRANGLER_PRICING_DATABASE_URL": "postgresql://pricing@127.0.0.1:1/pricing", "STRANGLER_ADMIN_TOKEN": "t"}
    return create_app(bootstrap(PricingSettings.from_env(env))).openapi()


def resolve(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def alternatives(schema: dict[str, Any], doc: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The non-null alternatives of a schema and whether null is allowed
    (OpenAPI 3.0 ``nullable`` and 3.1 ``anyOf [.., {type: null}]`` alike)."""
    schema = resolve(schema, doc)
    nullable = bool(schema.get("nullable"))
    members = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if not members:
        if schema.get("type") == "null":
            return [], True
        return [schema], nullable
    found: list[dict[str, Any]] = []
    for member in members:
        inner, member_null = alternatives(member, doc)
        found += inner
        nullable = nullable or member_null
    return found, nullable


def narrower(
    new: dict[str, Any], new_doc: dict[str, Any], old: dict[str, Any], old_doc: dict[str, Any], where: str
) -> list[str]:
    """Why ``new`` is not the same as or narrower than ``old`` (empty: it is)."""
    new_alts, new_null = alternatives(new, new_doc)
    old_alts, old_null = alternatives(old, old_doc)
    problems = [f"{where}: pricing allows null, the monolith does not"] if new_null and not old_null else []
    for alt in new_alts:
        tries = [narrower_one(alt, new_doc, candidate, old_doc, where) for candidate in old_alts]
        if tries and not any(not t for t in tries):
            problems += min(tries, key=len)
    return problems


def narrower_one(
    new: dict[str, Any], new_doc: dict[str, Any], old: dict[str, Any], old_doc: dict[str, Any], where: str
) -> list[str]:
    new_type = new.get("type", "object" if "properties" in new else None)
    old_type = old.get("type", "object" if "properties" in old else None)
    if old_type is None:
        return []
    if new_type != old_type and not (new_type == "integer" and old_type == "number"):
        return [f"{where}: type {new_type} where the monolith has {old_type}"]
    problems = []
    if "enum" in old and not set(new.get("enum", ["<any>"])) <= set(old["enum"]):
        problems.append(f"{where}: values beyond the monolith's enum")
    if old.get("pattern") and new.get("pattern") != old["pattern"]:
        problems.append(f"{where}: pattern {new.get('pattern')!r} is not the monolith's {old['pattern']!r}")
    if old.get("format") and new.get("format") != old["format"]:
        problems.append(f"{where}: format {new.get('format')!r} is not {old['format']!r}")
    if new_type == "array":
        problems += narrower(new.get("items", {}), new_doc, old.get("items", {}), old_doc, f"{where}[]")
    if new_type == "object":
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        for name, prop in new_props.items():
            if name not in old_props and old.get("additionalProperties") in (None, False):
                problems.append(f"{where}.{name}: not in the monolith's answer")
            elif name in old_props:
                problems += narrower(prop, new_doc, old_props[name], old_doc, f"{where}.{name}")
        for name in old.get("required", []):
            if name not in new.get("required", []):
                problems.append(f"{where}.{name}: required by the monolith, optional in pricing")
        old_more, new_more = (_free_form(s.get("additionalProperties")) for s in (old, new))
        if old_more is not None:
            if new_more is None:
                problems.append(f"{where}: the monolith's free-form object is not one in pricing")
            else:
                problems += narrower(new_more, new_doc, old_more, old_doc, f"{where}.*")
    return problems


def _free_form(more: Any) -> dict[str, Any] | None:
    """``additionalProperties`` as a schema (``true`` is any value), or ``None``."""
    if more is True:
        return {}
    return more if isinstance(more, dict) else None


@pytest.mark.parametrize("path", sorted(OWNED))
def test_same_operation_and_parameters(path: str, legacy_doc: dict[str, Any], pricing_doc: dict[str, Any]) -> None:
    legacy_op, pricing_op = legacy_doc["paths"][path]["get"], pricing_doc["paths"][path]["get"]
    assert legacy_op["operationId"] == pricing_op["operationId"] == OWNED[path]

    def params(op: dict[str, Any]) -> dict[tuple[str, str], Any]:
        return {
            (p["in"], p["name"]): (p.get("required", False), {k: v for k, v in p["schema"].items() if k != "minLength"})
            for p in op.get("parameters", [])
        }

    assert params(pricing_op) == params(legacy_op)


@pytest.mark.parametrize("path", sorted(OWNED))
def test_every_answer_of_pricing_is_one_the_monolith_documents(
    path: str, legacy_doc: dict[str, Any], pricing_doc: dict[str, Any]
) -> None:
    legacy_responses = legacy_doc["paths"][path]["get"]["responses"]
    pricing_responses = pricing_doc["paths"][path]["get"]["responses"]
    assert set(pricing_responses) <= set(legacy_responses)
    assert set(legacy_responses) - set(pricing_responses) <= set(NOT_GIVEN_BY_PRICING)
    problems = []
    for status, response in pricing_responses.items():
        legacy_content = legacy_responses[status].get("content", {})
        for media, body in response.get("content", {}).items():
            assert media in legacy_content, f"{status} {media} is not an answer of the monolith"
            problems += narrower(
                body["schema"], pricing_doc, legacy_content[media]["schema"], legacy_doc, f"{status} {media} $"
            )
    assert problems == []


def test_the_check_sees_a_field_the_monolith_does_not_have(
    legacy_doc: dict[str, Any], pricing_doc: dict[str, Any]
) -> None:
    rate = resolve(
        pricing_doc["paths"]["/api/items/{item_id}/rate/"]["get"]["responses"]["200"]["content"]["application/json"][
            "schema"
        ],
        pricing_doc,
    )
    widened = {
        **rate,
        "properties": {**rate["properties"], "spread": {"type": "integer"}},
        "required": [r for r in rate["required"] if r != "sku"],
    }
    legacy_rate = legacy_doc["paths"]["/api/items/{item_id}/rate/"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    problems = narrower(widened, pricing_doc, legacy_rate, legacy_doc, "$")
    assert any("spread" in p for p in problems) and any("sku" in p for p in problems)
