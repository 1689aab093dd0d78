"""HTTP API of the market: listings, sales, and the item exchange rate.

Reads are open; writes need ``Authorization: Token <key>`` and act as the
player behind the token. Writes are refused with 409 ``writes_moved`` while
another service owns the market's writes (``market/ownership.py``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from legacy_monolith.catalog.models import Item
from legacy_monolith.market.models import Listing, ListingStatus
from legacy_monolith.market.ownership import MARKET, writes_owned_by_legacy
from legacy_monolith.market.selectors import (
    HISTORY_INTERVALS,
    HISTORY_MAX_CANDLES,
    HISTORY_MAX_DAYS,
    RATE_WINDOW,
    ItemRate,
    history_candle_count,
    item_history,
    item_rate,
    listing_list,
    sale_list,
)
from legacy_monolith.market.services import listing_cancel, listing_create, sale_record
from legacy_monolith.players.selectors import player_for_user
from legacy_monolith.smp.api import MONEY_SCHEMA, LegacyLimitOffsetPagination, MoneyField, paginated_response
from legacy_monolith.smp.money import money_json
from legacy_monolith.smp.openapi import error_responses

MAX_PRICE_COPPER = 10**12  # 100 million gold: more than the whole economy
MAX_QUANTITY = 1_000_000


class ListingOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    item_id = serializers.IntegerField()
    seller_id = serializers.IntegerField()
    quantity = serializers.IntegerField()
    quantity_remaining = serializers.IntegerField()
    unit_price = MoneyField(source="unit_price_copper")
    status = serializers.CharField()
    status_label = serializers.CharField(source="get_status_display")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SaleOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    listing_id = serializers.IntegerField()
    item_id = serializers.IntegerField()
    buyer_id = serializers.IntegerField()
    seller_id = serializers.IntegerField()
    quantity = serializers.IntegerField()
    unit_price = MoneyField(source="unit_price_copper")
    total = MoneyField(source="total_copper")
    fee = MoneyField(source="fee_copper")
    sold_at = serializers.DateTimeField()


class ListingListCreateApi(APIView):
    """``GET /api/listings/?item=&seller=&status=O`` and ``POST /api/listings/``."""

    pagination_class = LegacyLimitOffsetPagination

    class FilterSerializer(serializers.Serializer):
        item = serializers.IntegerField(required=False, min_value=1)
        seller = serializers.IntegerField(required=False, min_value=1)
        status = serializers.ChoiceField(choices=ListingStatus.choices, required=False)

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ListingCreateInput"

        item = serializers.PrimaryKeyRelatedField(queryset=Item.objects.all())
        quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
        unit_price_copper = serializers.IntegerField(min_value=1, max_value=MAX_PRICE_COPPER)

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: ListingOutputSerializer(many=True), **error_responses(400, 401)},
        operation_id="listings_list",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        listings = listing_list(**filters.validated_data)
        return paginated_response(
            serializer_class=ListingOutputSerializer, queryset=listings, request=request, view=self
        )

    @extend_schema(
        request=InputSerializer,
        responses={201: ListingOutputSerializer, **error_responses(400, 401, 403, 409, 415)},
        operation_id="listings_create",
    )
    def post(self, request: Request) -> Response:
        with writes_owned_by_legacy(context=MARKET):
            seller = player_for_user(user=request.user)
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            listing = listing_create(seller=seller, **serializer.validated_data)
        return Response(ListingOutputSerializer(listing).data, status=status.HTTP_201_CREATED)


class ListingCancelApi(APIView):
    """``POST /api/listings/{id}/cancel/``: only the seller, only while open."""

    @extend_schema(
        request=None,
        responses={200: ListingOutputSerializer, **error_responses(401, 403, 404, 409)},
        operation_id="listings_cancel",
    )
    def post(self, request: Request, listing_id: int) -> Response:
        with writes_owned_by_legacy(context=MARKET):
            player = player_for_user(user=request.user)
            listing: Listing = listing_cancel(listing_id=listing_id, player=player)
        return Response(ListingOutputSerializer(listing).data)


class SaleListCreateApi(APIView):
    """``GET /api/sales/?item=&buyer=&seller=&listing=`` and ``POST /api/sales/``."""

    pagination_class = LegacyLimitOffsetPagination

    class FilterSerializer(serializers.Serializer):
        item = serializers.IntegerField(required=False, min_value=1)
        buyer = serializers.IntegerField(required=False, min_value=1)
        seller = serializers.IntegerField(required=False, min_value=1)
        listing = serializers.IntegerField(required=False, min_value=1)

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SaleCreateInput"

        listing = serializers.PrimaryKeyRelatedField(queryset=Listing.objects.all())
        quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: SaleOutputSerializer(many=True), **error_responses(400, 401)},
        operation_id="sales_list",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        sales = sale_list(**filters.validated_data)
        return paginated_response(serializer_class=SaleOutputSerializer, queryset=sales, request=request, view=self)

    @extend_schema(
        request=InputSerializer,
        responses={201: SaleOutputSerializer, **error_responses(400, 401, 403, 404, 409, 415)},
        operation_id="sales_create",
    )
    def post(self, request: Request) -> Response:
        with writes_owned_by_legacy(context=MARKET):
            buyer = player_for_user(user=request.user)
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            sale = sale_record(
                buyer=buyer,
                listing_id=serializer.validated_data["listing"].pk,
                quantity=serializer.validated_data["quantity"],
            )
        return Response(SaleOutputSerializer(sale).data, status=status.HTTP_201_CREATED)


def rate_json(rate: ItemRate) -> dict[str, Any]:
    """The rate endpoint's stable JSON shape (see ``ItemRateApi``)."""
    change = rate.change_copper
    return {
        "item_id": rate.item_id,
        "sku": rate.sku,
        "as_of": serializers.DateTimeField().to_representation(rate.as_of),
        "window_hours": int(RATE_WINDOW.total_seconds() // 3600),
        "last_price": money_json(rate.last_price_copper) if rate.last_price_copper is not None else None,
        "last_sold_at": serializers.DateTimeField().to_representation(rate.last_sold_at) if rate.last_sold_at else None,
        "average_price_24h": money_json(rate.average_copper) if rate.average_copper is not None else None,
        "volume_24h": {
            "quantity": rate.volume_quantity,
            "trades": rate.volume_trades,
            "value": money_json(rate.volume_copper),
        },
        "change_24h": None if change is None else {**money_json(change), "percent": rate.change_percent},
    }


_NullableMoney = inline_serializer(
    name="NullableMoney",
    fields={"copper": serializers.IntegerField(), "display": serializers.CharField()},
).__class__


def _nullable_money() -> serializers.Serializer:
    return _NullableMoney(allow_null=True)


RATE_SCHEMA = inline_serializer(
    name="ItemRate",
    fields={
        "item_id": serializers.IntegerField(),
        "sku": serializers.CharField(),
        "as_of": serializers.DateTimeField(),
        "window_hours": serializers.IntegerField(),
        "last_price": _nullable_money(),
        "last_sold_at": serializers.DateTimeField(allow_null=True),
        "average_price_24h": _nullable_money(),
        "volume_24h": inline_serializer(
            name="RateVolume",
            fields={
                "quantity": serializers.IntegerField(),
                "trades": serializers.IntegerField(),
                "value": MONEY_SCHEMA,
            },
        ),
        "change_24h": inline_serializer(
            name="RateChange",
            allow_null=True,
            fields={
                "copper": serializers.IntegerField(),
                "display": serializers.CharField(),
                "percent": serializers.FloatField(allow_null=True),
            },
        ),
    },
)


class ItemRateApi(APIView):
    """``GET /api/items/{id}/rate/``: last price, 24 h volume-weighted average,
    24 h volume and 24 h change, aggregated over ``smp_sale`` per request."""

    @extend_schema(responses={200: RATE_SCHEMA, **error_responses(401, 404)}, operation_id="items_rate")
    def get(self, request: Request, item_id: int) -> Response:
        return Response(rate_json(item_rate(item_id=item_id)))


class ItemHistoryApi(APIView):
    """``GET /api/items/{id}/history/?interval=1h&days=7``: OHLC candles in
    integer copper, only for buckets that had trades."""

    class FilterSerializer(serializers.Serializer):
        interval = serializers.ChoiceField(choices=sorted(HISTORY_INTERVALS), default="1h")
        days = serializers.IntegerField(min_value=1, max_value=HISTORY_MAX_DAYS, default=7)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            count = history_candle_count(interval=attrs["interval"], days=attrs["days"])
            if count > HISTORY_MAX_CANDLES:
                raise serializers.ValidationError(
                    f"{count} candles requested; at most {HISTORY_MAX_CANDLES}: use a wider interval or fewer days."
                )
            return attrs

    class CandleSerializer(serializers.Serializer):
        start = serializers.DateTimeField()
        open = serializers.IntegerField()
        high = serializers.IntegerField()
        low = serializers.IntegerField()
        close = serializers.IntegerField()
        volume = serializers.IntegerField()
        trades = serializers.IntegerField()

    @extend_schema(
        parameters=[FilterSerializer],
        responses={
            200: inline_serializer(
                name="ItemHistory",
                fields={
                    "item_id": serializers.IntegerField(),
                    "interval": serializers.CharField(),
                    "days": serializers.IntegerField(),
                    "candles": CandleSerializer(many=True),
                },
            ),
            **error_responses(400, 401, 404),
        },
        operation_id="items_history",
    )
    def get(self, request: Request, item_id: int) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        candles = item_history(item_id=item_id, **filters.validated_data)
        return Response(
            {
                "item_id": item_id,
                **filters.validated_data,
                "candles": self.CandleSerializer(candles, many=True).data,
            }
        )
