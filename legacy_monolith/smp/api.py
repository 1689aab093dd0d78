"""Small shared pieces of the DRF API: money fields and pagination.

Kept in the project package because every app renders money and pages the
same way; the JSON shapes produced here are part of the API contract the
strangler proxy's shadow mode compares against.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from legacy_monolith.smp import openapi as _openapi  # noqa: F401 - registers the schema extensions
from legacy_monolith.smp.money import MoneyJSON, money_json

MONEY_SCHEMA = inline_serializer(
    name="Money",
    fields={"copper": serializers.IntegerField(), "display": serializers.CharField()},
)


@extend_schema_field(MONEY_SCHEMA)
class MoneyField(serializers.Field):
    """Read-only copper integer rendered as ``{"copper": 123, "display": "1s 23c"}``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: int) -> MoneyJSON:
        return money_json(value)


class LegacyLimitOffsetPagination(LimitOffsetPagination):
    """DRF's LimitOffsetPagination (50 per page by default), documented as it
    behaves: it never refuses ``limit``/``offset``; a value that is not a
    positive integer (zero or more for ``offset``) is ignored and the default
    applies. List APIs set it as ``pagination_class``, which is also how
    drf-spectacular knows to document their answers as pages."""

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.limit_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page (default {self.default_limit}). A value that is not a positive "
                "integer is ignored (the default applies), not refused.",
                "schema": {"type": "string", "example": "50"},
            },
            {
                "name": self.offset_query_param,
                "required": False,
                "in": "query",
                "description": "Index of the first result (default 0). A value that is not an integer of 0 or "
                "more is ignored (0 applies), not refused.",
                "schema": {"type": "string", "example": "0"},
            },
        ]


def paginated_response(
    *, serializer_class: type[serializers.Serializer], queryset: QuerySet[Any], request: Request, view: APIView
) -> Response:
    """``{"count", "next", "previous", "results"}`` with ``?limit=&offset=``
    (the view's ``pagination_class``, by default :class:`LegacyLimitOffsetPagination`)."""
    paginator = (getattr(view, "pagination_class", None) or LegacyLimitOffsetPagination)()
    page = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer_class(page, many=True).data
    return paginator.get_paginated_response(data)
