"""HTTP API of the catalog context (read-only: items are managed in the admin)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from legacy_monolith.catalog.models import Category, Item, Rarity
from legacy_monolith.catalog.selectors import item_extra, item_get, item_list
from legacy_monolith.smp.api import LegacyLimitOffsetPagination, paginated_response
from legacy_monolith.smp.openapi import error_responses


class ItemOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    name = serializers.CharField()
    category = serializers.CharField()
    category_label = serializers.CharField(source="get_category_display")
    rarity = serializers.IntegerField()
    rarity_label = serializers.CharField(source="get_rarity_display")
    active = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    extra = serializers.SerializerMethodField()

    def get_active(self, item: Item) -> bool:
        return item.active == "Y"

    def get_extra(self, item: Item) -> dict[str, Any]:
        return item_extra(item=item)


class ItemListApi(APIView):
    """``GET /api/items/?category=WP&rarity=2&active=true&search=sword``."""

    pagination_class = LegacyLimitOffsetPagination

    class FilterSerializer(serializers.Serializer):
        category = serializers.ChoiceField(choices=Category.choices, required=False)
        rarity = serializers.ChoiceField(choices=Rarity.choices, required=False)
        active = serializers.BooleanField(required=False, default=None, allow_null=True)
        search = serializers.CharField(required=False, max_length=64)

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: ItemOutputSerializer(many=True), **error_responses(400, 401)},
        operation_id="items_list",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        items = item_list(**filters.validated_data)
        return paginated_response(serializer_class=ItemOutputSerializer, queryset=items, request=request, view=self)


class ItemDetailApi(APIView):
    """``GET /api/items/{id}/``."""

    @extend_schema(responses={200: ItemOutputSerializer, **error_responses(401, 404)}, operation_id="items_retrieve")
    def get(self, request: Request, item_id: int) -> Response:
        return Response(ItemOutputSerializer(item_get(item_id=item_id)).data)
