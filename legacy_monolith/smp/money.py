"""Copper coins, the one money unit of the SMP database.

100 copper = 1 silver, 100 silver = 1 gold. The monolith stores and computes
in integer copper only; the "1g 23s 45c" string is for humans (admin, API
``display`` fields) and is never parsed back.
"""

from __future__ import annotations

from typing import TypedDict

COPPER_PER_SILVER = 100
COPPER_PER_GOLD = 100 * COPPER_PER_SILVER


class MoneyJSON(TypedDict):
    copper: int
    display: str


def gold(amount: int) -> int:
    """Copper value of ``amount`` gold; reads better than 10_000 * n in code."""
    return amount * COPPER_PER_GOLD


def format_copper(copper: int) -> str:
    """``123456`` -> ``"12g 34s 56c"``.

    Units start at the largest non-zero one and always end with copper, so
    ``5`` is ``"5c"``, ``105`` is ``"1s 5c"`` and ``10000`` is ``"1g 0s 0c"``;
    negative amounts (price changes) get a leading minus sign.
    """
    sign = "-" if copper < 0 else ""
    rest = abs(int(copper))
    g, rest = divmod(rest, COPPER_PER_GOLD)
    s, c = divmod(rest, COPPER_PER_SILVER)
    if g:
        return f"{sign}{g}g {s}s {c}c"
    if s:
        return f"{sign}{s}s {c}c"
    return f"{sign}{c}c"


def money_json(copper: int) -> MoneyJSON:
    """The API's money shape: exact integer copper plus the human string."""
    return {"copper": int(copper), "display": format_copper(copper)}
