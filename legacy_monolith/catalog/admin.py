"""Admin for the catalog: the only place items are created or retired."""

from __future__ import annotations

from django.contrib import admin

from legacy_monolith.catalog.models import Item


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["id", "sku", "name", "category", "rarity", "active", "created_at"]
    list_filter = ["category", "rarity", "active"]
    search_fields = ["sku", "name"]
    readonly_fields = ["created_at"]
    ordering = ["id"]
