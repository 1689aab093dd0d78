"""Catalog context: ``smp_itm`` -> item events.
Spec: legacy_monolith/catalog/models.py docstring."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from acl.envelope import Change
from acl.translators._common import TranslationError, code, column, json_text, legacy_time, optional_of
from new_services.contracts.events import (
    DomainEvent,
    ItemAttributes,
    ItemCatalogued,
    ItemDeactivated,
    ItemReactivated,
    ItemRemoved,
    ItemRevised,
)
from new_services.contracts.values import ItemCategory, Rarity

CATEGORY = {
    "WP": ItemCategory.WEAPON,
    "AR": ItemCategory.ARMOUR,
    "CS": ItemCategory.CONSUMABLE,
    "MT": ItemCategory.MATERIAL,
    "MS": ItemCategory.MISC,
}
RARITY = {0: Rarity.COMMON, 1: Rarity.UNCOMMON, 2: Rarity.RARE, 3: Rarity.EPIC, 4: Rarity.LEGENDARY}
LISTABLE = {"Y": True, "N": False}
_ATTRIBUTE_KEYS = {"lvl_req", "stack", "desc"}
_REVISABLE = ("sku", "nm", "cat", "rar", "xtr")


def attributes(row: Mapping[str, Any]) -> ItemAttributes:
    extra = json_text(row, "xtr")
    level = optional_of(extra, "lvl_req", int, where="xtr")
    stack = optional_of(extra, "stack", int, where="xtr")
    if level is not None and level < 0:
        raise TranslationError(f"xtr.lvl_req is negative ({level})")
    if stack is not None and stack < 1:
        raise TranslationError(f"xtr.stack must be at least 1 ({stack})")
    return ItemAttributes(
        level_required=level,
        stack_size=stack,
        description=optional_of(extra, "desc", str, where="xtr"),
        other={k: v for k, v in extra.items() if k not in _ATTRIBUTE_KEYS},
    )


def _listable(row: Mapping[str, Any]) -> bool:
    value = row.get("act")
    if value not in LISTABLE:
        raise TranslationError(f"unknown code {value!r} in field 'act'")
    return LISTABLE[value]


def item(change: Change) -> list[DomainEvent]:
    row = change.row
    item_id = column(row, "id", int)
    if change.op in ("c", "r"):
        return [
            ItemCatalogued(
                item_id=item_id,
                sku=column(row, "sku", str),
                name=column(row, "nm", str),
                category=code(row, "cat", CATEGORY),
                rarity=code(row, "rar", RARITY),
                listable=_listable(row),
                catalogued_at=legacy_time(row, "crt_dt", change.source.commit_ts_ms),
                attributes=attributes(row),
            )
        ]
    if change.op == "d":
        return [ItemRemoved(item_id=item_id)]
    before = change.before or {}
    events: list[DomainEvent] = []
    if not before or any(before.get(k) != row.get(k) for k in _REVISABLE):
        events.append(
            ItemRevised(
                item_id=item_id,
                sku=column(row, "sku", str),
                name=column(row, "nm", str),
                category=code(row, "cat", CATEGORY),
                rarity=code(row, "rar", RARITY),
                attributes=attributes(row),
            )
        )
    listable = _listable(row)
    if before.get("act") != row.get("act"):
        events.append(ItemReactivated(item_id=item_id) if listable else ItemDeactivated(item_id=item_id))
    return events
