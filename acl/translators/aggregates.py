"""Which legacy column holds each aggregate's id, per captured table.

For readers that visit legacy rows grouped by aggregate, in id order (the
data-parity check, ``migration_plan.parity``, merges legacy and service rows
by aggregate). The column names stay here, in ``acl/translators/``, like
every other legacy name; the reader checks each translated event's id
against the value it ordered by, so this map cannot silently drift from the
translators.
"""

from __future__ import annotations

#: table -> aggregate -> column holding that aggregate's id.
AGGREGATE_KEYS: dict[str, dict[str, str]] = {
    "smp_itm": {"item": "id"},
    "smp_lst": {"listing": "id"},
    "smp_sale": {"item": "itm_id", "listing": "lst_id", "sale": "id"},
}


def aggregate_column(table: str, aggregate: str) -> str:
    """The column of ``table`` holding the ``aggregate``'s id (``KeyError`` if none)."""
    return AGGREGATE_KEYS[table][aggregate]
