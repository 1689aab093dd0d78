"""Pure functions: one Debezium change -> zero or more domain events.

The only place in the toolkit that knows legacy table names, column names and
codes. ``translate`` raises :class:`TranslationError` (or
:class:`acl.envelope.EnvelopeError`) for a change it cannot translate; the
consumer dead-letters it and goes on.
"""

from __future__ import annotations

from collections.abc import Callable

from acl.envelope import Change
from acl.translators import catalog, market, players
from acl.translators._common import TranslationError
from new_services.contracts.events import DomainEvent

Translator = Callable[[Change], list[DomainEvent]]

#: Captured legacy tables (schema public) and their translators. The relay's
#: include list is derived from this, so capture and translation cannot drift.
TRANSLATORS: dict[str, Translator] = {
    "smp_plyr": players.player,
    "smp_wlt": players.wallet,
    "smp_inv": players.inventory,
    "smp_itm": catalog.item,
    "smp_lst": market.listing,
    "smp_sale": market.sale,
}
CAPTURED_TABLES: tuple[str, ...] = tuple(TRANSLATORS)

__all__ = ["CAPTURED_TABLES", "TRANSLATORS", "TranslationError", "translate"]


def translate(change: Change) -> list[DomainEvent]:
    if change.op == "t":
        raise TranslationError(f"table {change.source.table} was truncated: re-snapshot needed")
    translator = TRANSLATORS.get(change.source.table)
    if translator is None:
        raise TranslationError(f"no translator for table {change.source.schema}.{change.source.table}")
    return translator(change)
