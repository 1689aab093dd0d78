"""Market context: ``smp_lst`` -> listing events, ``smp_sale`` -> sale events.
Spec: legacy_monolith/market/models.py docstring."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from acl.envelope import Change
from acl.translators._common import TranslationError, code, column, legacy_time, money, non_negative
from new_services.contracts.events import (
    DomainEvent,
    ListingAmended,
    ListingCancelled,
    ListingExpired,
    ListingFilled,
    ListingOpened,
    ListingRemoved,
    SaleCorrected,
    SaleRecorded,
    SaleVoided,
)
from new_services.contracts.values import ListingStatus

STATUS = {"O": ListingStatus.OPEN, "F": ListingStatus.FILLED, "C": ListingStatus.CANCELLED, "X": ListingStatus.EXPIRED}


def _closing_event(row: Mapping[str, Any], status: ListingStatus, at: datetime) -> DomainEvent | None:
    listing_id = column(row, "id", int)
    remaining = non_negative(row, "qty_rem")
    if status is ListingStatus.FILLED:
        return ListingFilled(listing_id=listing_id, closed_at=at)
    if status is ListingStatus.CANCELLED:
        return ListingCancelled(listing_id=listing_id, quantity_returned=remaining, closed_at=at)
    if status is ListingStatus.EXPIRED:
        return ListingExpired(listing_id=listing_id, quantity_returned=remaining, closed_at=at)
    return None


def listing(change: Change) -> list[DomainEvent]:
    ts = change.source.commit_ts_ms
    row = change.row
    listing_id = column(row, "id", int)
    if change.op == "d":
        return [ListingRemoved(listing_id=listing_id)]
    status = code(row, "sts", STATUS)
    remaining, quantity = non_negative(row, "qty_rem"), non_negative(row, "qty")
    if remaining > quantity:
        raise TranslationError(f"qty_rem ({remaining}) exceeds qty ({quantity})")
    price = money(non_negative(row, "prc_cp"))
    updated_at = legacy_time(row, "upd_dt", ts)
    if change.op in ("c", "r"):
        opened_at = legacy_time(row, "crt_dt", ts)
        events: list[DomainEvent] = [
            ListingOpened(
                listing_id=listing_id,
                seller_id=column(row, "sllr_id", int),
                item_id=column(row, "itm_id", int),
                quantity=quantity,
                quantity_remaining=remaining,
                unit_price=price,
                opened_at=opened_at,
            )
        ]
        if status is ListingStatus.OPEN and updated_at != opened_at:
            # Changed since it opened (a sale before the snapshot): the amendment
            # carries upd_dt, which no other event of an open listing does.
            events.append(
                ListingAmended(
                    listing_id=listing_id,
                    status=status,
                    quantity_remaining=remaining,
                    unit_price=price,
                    amended_at=updated_at,
                )
            )
        closing = _closing_event(row, status, updated_at)
        return events + ([closing] if closing else [])
    before = change.before or {}
    events = []
    if not before or before.get("qty_rem") != row.get("qty_rem") or before.get("prc_cp") != row.get("prc_cp"):
        events.append(
            ListingAmended(
                listing_id=listing_id,
                status=status,
                quantity_remaining=remaining,
                unit_price=price,
                amended_at=updated_at,
            )
        )
    if before.get("sts") != row.get("sts"):
        closing = _closing_event(row, status, updated_at)
        if closing is None:
            raise TranslationError(
                f"listing {listing_id} re-opened from {before.get('sts')!r}: not a legacy transition"
            )
        events.append(closing)
    return events


def _sale(kind: type[SaleRecorded] | type[SaleCorrected], row: Mapping[str, Any], commit_ts_ms: int) -> DomainEvent:
    """A recorded or corrected sale (same payload). Built with keywords in
    one call, no intermediate dict: this is the busiest translator."""
    quantity, unit = non_negative(row, "qty"), non_negative(row, "prc_cp")
    total, fee = non_negative(row, "tot_cp"), non_negative(row, "fee_cp")
    if quantity == 0:
        raise TranslationError("sale of quantity 0")
    if total != quantity * unit:
        raise TranslationError(f"tot_cp {total} != qty {quantity} x prc_cp {unit}")
    if fee > total:
        raise TranslationError(f"fee_cp {fee} exceeds tot_cp {total}")
    return kind(
        sale_id=column(row, "id", int),
        listing_id=column(row, "lst_id", int),
        buyer_id=column(row, "byr_id", int),
        seller_id=column(row, "sllr_id", int),
        item_id=column(row, "itm_id", int),
        quantity=quantity,
        unit_price=money(unit),
        total=money(total),
        fee=money(fee),
        seller_proceeds=money(total - fee),
        sold_at=legacy_time(row, "sld_at", commit_ts_ms),
    )


def sale(change: Change) -> list[DomainEvent]:
    if change.op in ("c", "r"):
        return [_sale(SaleRecorded, change.row, change.source.commit_ts_ms)]
    if change.op == "d":
        row = change.row
        listing_id = row.get("lst_id")
        return [
            SaleVoided(sale_id=column(row, "id", int), listing_id=listing_id if isinstance(listing_id, int) else None)
        ]
    return [_sale(SaleCorrected, change.row, change.source.commit_ts_ms)]
