"""How the monolith's Django/DRF edge writes values on the wire, for the new
services that answer in its place (pricing's and the market's
``legacy_contract`` modules): money as ``{"copper", "display"}``, naive
wall-clock timestamps, Django's ``<int:...>`` path converter and its HTML
404. Read from the monolith (``smp/money.py``, DRF's ``DateTimeField``,
Django's ``IntConverter``), not imported: the services do not depend on
Django.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

COPPER_PER_SILVER = 100
COPPER_PER_GOLD = 100 * COPPER_PER_SILVER
#: Largest primary key PostgreSQL's bigint holds; Django answers 404 beyond it.
MAX_ID = 2**63 - 1

DJANGO_NOT_FOUND_HTML = (
    '\n<!doctype html>\n<html lang="en">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n'
    "  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n"
)

_DIGITS = re.compile(r"[0-9]+")


def format_copper(copper: int) -> str:
    """``123456`` -> ``"12g 34s 56c"`` (the monolith's ``smp.money.format_copper``)."""
    sign = "-" if copper < 0 else ""
    rest = abs(int(copper))
    g, rest = divmod(rest, COPPER_PER_GOLD)
    s, c = divmod(rest, COPPER_PER_SILVER)
    if g:
        return f"{sign}{g}g {s}s {c}c"
    if s:
        return f"{sign}{s}s {c}c"
    return f"{sign}{c}c"


def money(copper: int) -> dict[str, Any]:
    return {"copper": int(copper), "display": format_copper(copper)}


def timestamp(moment: dt.datetime) -> str:
    """DRF's ``DateTimeField`` output for a naive datetime (``USE_TZ=False``)."""
    return moment.isoformat()


def path_id(segment: str) -> int | None:
    """Django's ``<int:...>`` converter: ``[0-9]+`` or no match (``None``)."""
    return int(segment) if _DIGITS.fullmatch(segment) else None
