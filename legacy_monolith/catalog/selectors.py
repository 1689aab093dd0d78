"""Read-side queries of the catalog context."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import Q, QuerySet

from legacy_monolith.catalog.models import Item
from legacy_monolith.smp.exceptions import NotFound


def item_list(
    *, category: str | None = None, rarity: int | None = None, active: bool | None = None, search: str | None = None
) -> QuerySet[Item]:
    """Items ordered by id, optionally filtered; ``search`` matches the sku
    or the name, case-insensitively."""
    items = Item.objects.order_by("id")
    if category:
        items = items.filter(category=category)
    if rarity is not None:
        items = items.filter(rarity=rarity)
    if active is not None:
        items = items.filter(active="Y" if active else "N")
    if search:
        items = items.filter(Q(sku__icontains=search) | Q(name__icontains=search))
    return items


def item_get(*, item_id: int) -> Item:
    """The item; ``NotFound`` (404) if missing."""
    item = Item.objects.filter(pk=item_id).first()
    if item is None:
        raise NotFound(f"Item {item_id} not found.")
    return item


def item_extra(*, item: Item) -> dict[str, Any]:
    """The ``xtr`` free-text column decoded: ``{}`` when empty or not a JSON
    object, which ten years of hand edits have made common."""
    try:
        value = json.loads(item.extra or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
