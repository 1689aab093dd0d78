"""Pure reverse translators: one market domain event -> the legacy row writes
that make the monolith's tables say the same thing, in legacy form.

The mirror of :mod:`acl.translators.market` (spec:
``legacy_monolith/market/models.py``): integer copper, single-char status
codes, naive Europe/Paris wall-clock times, and the monolith's own quirks:

- ``ListingOpened``  -> INSERT ``smp_lst`` with the event's id, ``sts 'O'``,
  ``crt_dt`` = ``upd_dt`` = the opening time.
- ``ListingAmended`` -> UPDATE ``qty_rem``, ``prc_cp``, ``sts``, ``upd_dt``.
- ``ListingFilled``  -> UPDATE ``sts 'F'``, ``qty_rem 0`` (filled means the
  remainder hit 0), ``upd_dt``.
- ``ListingCancelled`` / ``ListingExpired`` -> UPDATE ``sts 'C'`` / ``'X'``,
  ``qty_rem`` = the quantity returned (a closed listing keeps in ``qty_rem``
  what went back to the seller), ``upd_dt``.
- ``SaleRecorded``   -> INSERT ``smp_sale`` with the event's id, ``tot_cp``,
  ``fee_cp`` and ``sld_at``; the listing must exist first.

Wallets and inventories are never written: the monolith moves money and
items itself through its internal API (the market's saga calls it).

Anything else, or an event whose numbers do not hold together, raises
:class:`ReverseTranslationError`; the loop dead-letters it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from acl.translators._common import LEGACY_ZONE
from new_services.contracts.events import (
    DomainEvent,
    ListingAmended,
    ListingCancelled,
    ListingExpired,
    ListingFilled,
    ListingOpened,
    SaleRecorded,
)
from new_services.contracts.values import GOLD, ListingStatus, Money

LISTING_TABLE = "smp_lst"
SALE_TABLE = "smp_sale"
#: Legacy tables sync-back writes, with their id column (each has an id sequence).
WRITTEN_TABLES: tuple[str, ...] = (LISTING_TABLE, SALE_TABLE)

#: Domain status -> legacy ``sts`` code (the inverse of the ACL's mapping).
STATUS_CODE: dict[ListingStatus, str] = {
    ListingStatus.OPEN: "O",
    ListingStatus.FILLED: "F",
    ListingStatus.CANCELLED: "C",
    ListingStatus.EXPIRED: "X",
}


class ReverseTranslationError(ValueError):
    """This event cannot become legacy rows; the message is the reason."""


@dataclass(frozen=True)
class RowWrite:
    """One legacy row write, by primary key.

    ``insert``: the row must not exist yet, or already hold exactly
    ``values`` (a replay); ``update``: the row must exist.
    ``requires``: ``(table, id)`` of a row that must exist before this one
    is written (a sale's listing: it travels on another partition, so it may
    come a little later)."""

    action: Literal["insert", "update"]
    table: str
    id: int
    values: dict[str, Any] = field(default_factory=dict)
    requires: tuple[str, int] | None = None


def legacy_wall_clock(moment: datetime) -> datetime:
    """An aware time as the monolith stores it: naive Europe/Paris wall clock.

    The autumn hour that happens twice is written as its wall clock; the
    ACL reads it back as the reading closest to the commit time (see
    ``acl.translators._common.legacy_time``)."""
    if moment.tzinfo is None:
        raise ReverseTranslationError("naive time in a domain event")
    return moment.astimezone(LEGACY_ZONE).replace(tzinfo=None)


def copper(amount: Money, what: str) -> int:
    """Money as integer copper, exactly, or an error (never rounded)."""
    if amount.currency != GOLD:
        raise ReverseTranslationError(f"{what}: currency {amount.currency!r} is not {GOLD}")
    scaled = amount.amount.scaleb(4)
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        raise ReverseTranslationError(f"{what}: {amount.amount} {GOLD} is not a whole number of copper")
    value = int(scaled)
    if value < 0:
        raise ReverseTranslationError(f"{what} is negative ({amount.amount} {GOLD})")
    return value


def _non_negative(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ReverseTranslationError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def _positive_id(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ReverseTranslationError(f"{what} must be a positive id, got {value!r}")
    return value


def listing_opened(event: ListingOpened) -> list[RowWrite]:
    quantity = _non_negative(event.quantity, "quantity")
    remaining = _non_negative(event.quantity_remaining, "quantity_remaining")
    if quantity == 0:
        raise ReverseTranslationError("listing of quantity 0")
    if remaining > quantity:
        raise ReverseTranslationError(f"quantity_remaining ({remaining}) exceeds quantity ({quantity})")
    opened = legacy_wall_clock(event.opened_at)
    return [
        RowWrite(
            "insert",
            LISTING_TABLE,
            _positive_id(event.listing_id, "listing_id"),
            {
                "sllr_id": _positive_id(event.seller_id, "seller_id"),
                "itm_id": _positive_id(event.item_id, "item_id"),
                "qty": quantity,
                "qty_rem": remaining,
                "prc_cp": copper(event.unit_price, "unit_price"),
                "sts": STATUS_CODE[ListingStatus.OPEN],
                "crt_dt": opened,
                "upd_dt": opened,
            },
        )
    ]


def _listing_update(listing_id: int, **values: Any) -> list[RowWrite]:
    return [RowWrite("update", LISTING_TABLE, _positive_id(listing_id, "listing_id"), values)]


def listing_amended(event: ListingAmended) -> list[RowWrite]:
    return _listing_update(
        event.listing_id,
        qty_rem=_non_negative(event.quantity_remaining, "quantity_remaining"),
        prc_cp=copper(event.unit_price, "unit_price"),
        sts=STATUS_CODE[ListingStatus(event.status)],
        upd_dt=legacy_wall_clock(event.amended_at),
    )


def listing_filled(event: ListingFilled) -> list[RowWrite]:
    return _listing_update(
        event.listing_id, sts=STATUS_CODE[ListingStatus.FILLED], qty_rem=0, upd_dt=legacy_wall_clock(event.closed_at)
    )


def listing_cancelled(event: ListingCancelled) -> list[RowWrite]:
    return _listing_update(
        event.listing_id,
        sts=STATUS_CODE[ListingStatus.CANCELLED],
        qty_rem=_non_negative(event.quantity_returned, "quantity_returned"),
        upd_dt=legacy_wall_clock(event.closed_at),
    )


def listing_expired(event: ListingExpired) -> list[RowWrite]:
    return _listing_update(
        event.listing_id,
        sts=STATUS_CODE[ListingStatus.EXPIRED],
        qty_rem=_non_negative(event.quantity_returned, "quantity_returned"),
        upd_dt=legacy_wall_clock(event.closed_at),
    )


def sale_recorded(event: SaleRecorded) -> list[RowWrite]:
    quantity = _non_negative(event.quantity, "quantity")
    if quantity == 0:
        raise ReverseTranslationError("sale of quantity 0")
    unit, total = copper(event.unit_price, "unit_price"), copper(event.total, "total")
    fee, proceeds = copper(event.fee, "fee"), copper(event.seller_proceeds, "seller_proceeds")
    if total != quantity * unit:
        raise ReverseTranslationError(f"total {total} cp != quantity {quantity} x unit price {unit} cp")
    if fee > total:
        raise ReverseTranslationError(f"fee {fee} cp exceeds total {total} cp")
    if proceeds != total - fee:
        raise ReverseTranslationError(f"seller_proceeds {proceeds} cp != total {total} cp - fee {fee} cp")
    listing_id = _positive_id(event.listing_id, "listing_id")
    return [
        RowWrite(
            "insert",
            SALE_TABLE,
            _positive_id(event.sale_id, "sale_id"),
            {
                "lst_id": listing_id,
                "byr_id": _positive_id(event.buyer_id, "buyer_id"),
                "sllr_id": _positive_id(event.seller_id, "seller_id"),
                "itm_id": _positive_id(event.item_id, "item_id"),
                "qty": quantity,
                "prc_cp": unit,
                "tot_cp": total,
                "fee_cp": fee,
                "sld_at": legacy_wall_clock(event.sold_at),
            },
            requires=(LISTING_TABLE, listing_id),
        )
    ]


REVERSE: dict[type[DomainEvent], Callable[[Any], list[RowWrite]]] = {
    ListingOpened: listing_opened,
    ListingAmended: listing_amended,
    ListingFilled: listing_filled,
    ListingCancelled: listing_cancelled,
    ListingExpired: listing_expired,
    SaleRecorded: sale_recorded,
}


def reverse(event: DomainEvent) -> list[RowWrite]:
    """The legacy writes of ``event``; raises :class:`ReverseTranslationError`."""
    translator = REVERSE.get(type(event))
    if translator is None:
        raise ReverseTranslationError(f"sync-back does not apply {type(event).type_name()} events")
    return translator(event)


__all__ = [
    "LISTING_TABLE",
    "REVERSE",
    "SALE_TABLE",
    "STATUS_CODE",
    "WRITTEN_TABLES",
    "ReverseTranslationError",
    "RowWrite",
    "copper",
    "legacy_wall_clock",
    "reverse",
]
