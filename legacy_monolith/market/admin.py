"""Admin for listings and sales.

``smp_sale`` holds millions of rows: the changelist skips the full count,
uses raw-id widgets instead of giant drop-downs, and sales are read-only
(they are insert-only by design; corrections go through support tooling).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from legacy_monolith.market.models import Listing, Sale
from legacy_monolith.smp.admin_utils import money_column


@admin.register(Listing)
class ListingAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "seller", "quantity_remaining", "quantity", "unit_price", "status", "created_at"]
    list_filter = ["status", "item__category"]
    search_fields = ["item__sku", "item__name", "seller__name"]
    raw_id_fields = ["seller", "item"]
    list_select_related = ["item", "seller"]
    readonly_fields = ["created_at", "updated_at"]
    show_full_result_count = False
    unit_price = money_column("unit_price_copper", "unit price")


@admin.register(Sale)
class SaleAdmin(admin.ModelAdmin):
    list_display = ["id", "sold_at", "item", "buyer", "seller", "quantity", "unit_price", "total", "fee"]
    list_filter = ["item__category", "item__rarity"]
    search_fields = ["item__sku", "buyer__name", "seller__name"]
    raw_id_fields = ["listing", "buyer", "seller", "item"]
    list_select_related = ["item", "buyer", "seller"]
    show_full_result_count = False
    ordering = ["-id"]
    unit_price = money_column("unit_price_copper", "unit price")
    total = money_column("total_copper", "total")
    fee = money_column("fee_copper", "fee")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
