"""Admin for listings and sales.

``smp_sale`` holds millions of rows: the changelist skips the full count,
uses raw-id widgets instead of giant drop-downs, and sales are read-only
(they are insert-only by design; corrections go through support tooling).

While another service owns the market's writes (``market/ownership.py``),
both admins are read-only and every page of theirs shows a notice naming
the owner and since when. The owner is read once per admin request.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse

from legacy_monolith.market.models import Listing, Sale
from legacy_monolith.market.ownership import MARKET, WriteOwner, write_owner_get
from legacy_monolith.smp.admin_utils import money_column
from legacy_monolith.smp.exceptions import WriteOwnerUnknown

UNKNOWN = "unknown"


def _market_owner(request: HttpRequest) -> WriteOwner:
    """The market's writer, read once per request (admin asks for each
    permission several times while rendering one page). Unreadable control
    database: owner ``unknown``, so the pages stay readable but read-only."""
    owner: WriteOwner | None = getattr(request, "_smp_market_owner", None)
    if owner is None:
        try:
            owner = write_owner_get(context=MARKET)
        except WriteOwnerUnknown:
            owner = WriteOwner(context=MARKET, owner=UNKNOWN)
        request._smp_market_owner = owner  # type: ignore[attr-defined]
    return owner


class MarketWritesAdminMixin:
    """Read-only, with a visible notice, while the market's writes moved."""

    def _writes_moved(self, request: HttpRequest) -> bool:
        return not _market_owner(request).is_legacy

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not self._writes_moved(request) and super().has_add_permission(request)  # type: ignore[misc]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._writes_moved(request) and super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._writes_moved(request) and super().has_delete_permission(request, obj)  # type: ignore[misc]

    def _warn_if_moved(self, request: HttpRequest) -> None:
        owner = _market_owner(request)
        if owner.owner == UNKNOWN:
            messages.warning(
                request, "Read-only here: the owner of market writes cannot be read from the control database."
            )
        elif not owner.is_legacy:
            messages.warning(request, f"Read-only here: {owner.notice()}")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        self._warn_if_moved(request)
        return super().changelist_view(request, extra_context)  # type: ignore[misc]

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "GET":
            self._warn_if_moved(request)
        return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]


@admin.register(Listing)
class ListingAdmin(MarketWritesAdminMixin, admin.ModelAdmin):
    list_display = ["id", "item", "seller", "quantity_remaining", "quantity", "unit_price", "status", "created_at"]
    list_filter = ["status", "item__category"]
    search_fields = ["item__sku", "item__name", "seller__name"]
    raw_id_fields = ["seller", "item"]
    list_select_related = ["item", "seller"]
    readonly_fields = ["created_at", "updated_at"]
    show_full_result_count = False
    unit_price = money_column("unit_price_copper", "unit price")


@admin.register(Sale)
class SaleAdmin(MarketWritesAdminMixin, admin.ModelAdmin):
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
