"""Admin display helpers shared by the apps' ``admin.py``: readable money."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin

from legacy_monolith.smp.money import format_copper


def money_column(attribute: str, description: str) -> Callable[[Any, Any], str]:
    """A ``list_display`` callable rendering an integer copper attribute (a
    dotted path such as ``"wallet.balance_copper"``) as ``"1g 23s 45c"``,
    sortable by the underlying column when it is on the model itself."""

    def column(self: Any, obj: Any) -> str:
        value: Any = obj
        for part in attribute.split("."):
            value = getattr(value, part, None)
            if value is None:
                return "-"
        return format_copper(value)

    ordering = attribute.replace(".", "__")
    return admin.display(description=description, ordering=ordering)(column)
