"""The monolith's OpenAPI, made to say what the monolith really does.

drf-spectacular's defaults describe an idealised DRF API. This module fixes
the three places where the legacy differs, once, for every endpoint:

* **Timestamps are naive.** With ``USE_TZ = False`` DRF renders datetimes
  with ``isoformat()``: ``2026-12-01T14:51:52.123456`` (microseconds left
  out when zero), Europe/Paris wall-clock time, no offset. That is not RFC
  3339 ``date-time``; :class:`NaiveDateTimeFieldExtension` documents every
  ``DateTimeField`` as a string with a pattern instead.
* **Errors have shapes.** :func:`error_responses` gives each operation the
  answers it really returns besides success, from shared components:
  ``Error`` (``{detail}`` from DRF, ``{detail, code, extra}`` from a refused
  business operation, see :mod:`legacy_monolith.smp.exceptions`) and
  ``ValidationError`` (DRF's ``{field: [messages]}``).
* **Lists are pages**, documented by drf-spectacular's pagination support
  (see :class:`legacy_monolith.smp.api.LegacyLimitOffsetPagination`).

The extensions register themselves on import; ``smp.api`` (imported by every
app's API module) imports this module.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer
from rest_framework import serializers

from legacy_monolith.smp.exceptions import ApplicationError

# What ``datetime.isoformat()`` gives for a naive value: seconds always,
# microseconds only when non-zero, no offset.
NAIVE_DATETIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?$"


class NaiveDateTimeFieldExtension(OpenApiSerializerFieldExtension):
    """Every DRF ``DateTimeField`` of the monolith renders a naive local time."""

    target_class = "rest_framework.fields.DateTimeField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        if settings.USE_TZ:  # aware values carry their offset: RFC 3339 holds
            return build_basic_type(OpenApiTypes.DATETIME)  # type: ignore[return-value]
        return {
            "type": "string",
            "pattern": NAIVE_DATETIME_PATTERN,
            "description": f"naive {settings.TIME_ZONE} local time, no offset "
            "(YYYY-MM-DDTHH:MM:SS[.ffffff], microseconds omitted when zero)",
            "example": "2026-12-01T14:51:52.123456",
        }


def _business_codes() -> dict[int, list[str]]:
    """Stable ``code`` values of refused business operations, by HTTP status."""
    found: dict[int, set[str]] = {}
    pending = [ApplicationError]
    while pending:
        cls = pending.pop()
        if cls.public:
            found.setdefault(cls.status_code, set()).add(cls.code)
        pending.extend(cls.__subclasses__())
    return {status: sorted(codes) for status, codes in found.items()}


class ErrorSerializer(serializers.Serializer):
    """An error answer. DRF's own errors (authentication, permission, a
    missing route object, a malformed or unsupported body) carry ``detail``
    only; a refused business operation adds ``code`` and ``extra``."""

    class Meta:
        ref_name = "Error"

    detail = serializers.CharField(help_text="Human-readable message.")
    code = serializers.CharField(
        required=False,
        help_text="Stable machine key of a refused business operation, one of: "
        + ", ".join(sorted({c for codes in _business_codes().values() for c in codes}))
        + ".",
    )
    extra = serializers.DictField(required=False, help_text="Facts about the refusal (amounts, ids).")


class ValidationErrorSerializer(serializers.Serializer):
    """Stands for DRF's field errors; mapped by the extension below."""

    class Meta:
        ref_name = "ValidationError"


class ValidationErrorExtension(OpenApiSerializerExtension):
    target_class = ValidationErrorSerializer

    def get_name(self, auto_schema: Any, direction: Any) -> str:
        return "ValidationError"

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {
            "type": "object",
            "description": "DRF's input errors: each invalid field (query parameter or body field) with its "
            "messages; rules spanning several fields under ``non_field_errors``.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "minProperties": 1,
            "example": {"quantity": ["Ensure this value is greater than or equal to 1."]},
        }


BAD_REQUEST = PolymorphicProxySerializer(
    component_name="BadRequest",
    serializers=[ValidationErrorSerializer, ErrorSerializer],
    resource_type_field_name=None,
    many=False,
)

_codes = _business_codes()


def _listed(status: int) -> str:
    return ", ".join(f"``{c}``" for c in _codes.get(status, []))


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Invalid input: DRF's field errors (``ValidationError``), or ``{detail}`` for a body that is not "
    "valid JSON/form data.",
    401: "No credentials on a write, or an invalid ``Authorization: Token`` on any request: ``{detail}``.",
    403: f"Refused: ``{{detail, code, extra}}`` with code {_listed(403)}; or DRF's ``{{detail}}`` "
    "(e.g. CSRF on session-authenticated writes).",
    404: "Not found: ``{detail, code: not_found}`` for a missing object. A path that does not match the "
    "route at all (e.g. a negative or non-numeric id) gets Django's HTML 404 page.",
    409: f"Refused business operation: ``{{detail, code, extra}}`` with code {_listed(409)}.",
    415: "Unsupported request media type: ``{detail}``.",
}


def error_responses(*statuses: int) -> dict[Any, Any]:
    """``responses`` entries for ``@extend_schema``: the error answers an
    operation really returns, from the shared components."""
    responses: dict[Any, Any] = {}
    # 404 is keyed by (status, media type) to add Django's HTML page. Keep 404
    # off list operations: drf-spectacular guesses "list or not" from the
    # smallest key, and a tuple key sorts first.
    for status in statuses:
        body = BAD_REQUEST if status == 400 else ErrorSerializer
        if status == 404:
            responses[(404, "application/json")] = OpenApiResponse(body, description=ERROR_DESCRIPTIONS[404])
            responses[(404, "text/html")] = OpenApiResponse(OpenApiTypes.STR, description=ERROR_DESCRIPTIONS[404])
        else:
            responses[status] = OpenApiResponse(body, description=ERROR_DESCRIPTIONS[status])
    return responses


def document_empty_query_values(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: every optional query parameter
    allows an empty value. DRF reads query strings as HTML form input, where
    ``?status=`` on an optional field means "not given" (the default
    applies), so the monolith accepts it whatever the parameter's type."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and not parameter.get("required"):
                    parameter["allowEmptyValue"] = True
    return result
