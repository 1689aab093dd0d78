"""Admin for players, wallets and inventory slots (support staff's daily tool)."""

from __future__ import annotations

from django.contrib import admin

from legacy_monolith.players.models import InventorySlot, Player, Wallet
from legacy_monolith.smp.admin_utils import money_column


class WalletInline(admin.StackedInline):
    model = Wallet
    can_delete = False
    readonly_fields = ["balance_display", "updated_at"]
    fields = ["balance_copper", "balance_display", "updated_at"]
    balance_display = money_column("balance_copper", "balance")


@admin.register(Player)
class PlayerAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "email", "status", "balance", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "email"]
    raw_id_fields = ["user"]
    list_select_related = ["wallet"]
    readonly_fields = ["created_at"]
    inlines = [WalletInline]
    balance = money_column("wallet.balance_copper", "balance")


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ["player", "balance", "balance_copper", "updated_at"]
    search_fields = ["player__name"]
    list_filter = ["player__status"]
    raw_id_fields = ["player"]
    list_select_related = ["player"]
    balance = money_column("balance_copper", "balance")


@admin.register(InventorySlot)
class InventorySlotAdmin(admin.ModelAdmin):
    list_display = ["player", "item", "quantity"]
    search_fields = ["player__name", "item__sku", "item__name"]
    list_filter = ["item__category", "item__rarity"]
    raw_id_fields = ["player", "item"]
    list_select_related = ["player", "item"]
