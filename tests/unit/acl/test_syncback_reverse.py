"""Reverse translators (pure): market events -> legacy rows in legacy form.

The strongest check is the round trip: the rows they write, read back by
the ACL's own translators (as Debezium would deliver them), are the same
events again."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from acl.envelope import Change, SourcePosition
from acl.syncback.reverse import ReverseTranslationError, RowWrite, copper, legacy_wall_clock, reverse
from acl.translators import translate
from new_services.contracts.events import (
    ListingAmended,
    ListingCancelled,
    ListingExpired,
    ListingFilled,
    ListingOpened,
    ListingRemoved,
    SaleRecorded,
)
from new_services.contracts.values import ListingStatus, Money

SUMMER = datetime(2024, 6, 1, 10, 0, 0, 123456, tzinfo=UTC)  # 12:00:00.123456 in Paris (CEST)
WINTER = datetime(2024, 1, 15, 9, 0, tzinfo=UTC)  # 10:00 in Paris (CET)

OPENED = ListingOpened(
    listing_id=501,
    seller_id=1,
    item_id=7,
    quantity=10,
    quantity_remaining=10,
    unit_price=Money.from_copper(150),
    opened_at=SUMMER,
)
SALE = SaleRecorded(
    sale_id=9001,
    listing_id=501,
    buyer_id=2,
    seller_id=1,
    item_id=7,
    quantity=4,
    unit_price=Money.from_copper(150),
    total=Money.from_copper(600),
    fee=Money.from_copper(30),
    seller_proceeds=Money.from_copper(570),
    sold_at=WINTER,
)


def as_debezium(row: dict[str, Any]) -> dict[str, Any]:
    """A legacy row as Debezium's JsonConverter sends it: naive timestamps as
    microseconds since the epoch of the wall-clock reading."""
    epoch = datetime(1970, 1, 1)
    return {k: (v - epoch) // timedelta(microseconds=1) if isinstance(v, datetime) else v for k, v in row.items()}


def change_of(write: RowWrite, before: dict[str, Any] | None, commit: datetime) -> tuple[Change, dict[str, Any]]:
    after = {**(before or {}), "id": write.id, **write.values}
    table = write.table
    op = "c" if write.action == "insert" else "u"
    source = SourcePosition(table, "public", 1, 1, int(commit.timestamp() * 1000), False)
    return Change(op, {"id": write.id}, as_debezium(before) if before else None, as_debezium(after), source, 0), after


def test_listing_opened_is_an_insert_in_legacy_form():
    [write] = reverse(OPENED)
    assert write == RowWrite(
        "insert",
        "smp_lst",
        501,
        {
            "sllr_id": 1,
            "itm_id": 7,
            "qty": 10,
            "qty_rem": 10,
            "prc_cp": 150,
            "sts": "O",
            "crt_dt": datetime(2024, 6, 1, 12, 0, 0, 123456),
            "upd_dt": datetime(2024, 6, 1, 12, 0, 0, 123456),
        },
    )
    assert write.values["crt_dt"].tzinfo is None


def test_sale_recorded_is_an_insert_with_total_fee_and_naive_local_time_that_needs_its_listing():
    [write] = reverse(SALE)
    assert write.action == "insert" and write.table == "smp_sale" and write.id == 9001
    assert write.values == {
        "lst_id": 501,
        "byr_id": 2,
        "sllr_id": 1,
        "itm_id": 7,
        "qty": 4,
        "prc_cp": 150,
        "tot_cp": 600,
        "fee_cp": 30,
        "sld_at": datetime(2024, 1, 15, 10, 0),
    }
    assert write.requires == ("smp_lst", 501)


def test_listing_updates_follow_the_legacy_quirks():
    at = SUMMER + timedelta(hours=1)
    naive = datetime(2024, 6, 1, 13, 0, 0, 123456)
    amended = ListingAmended(
        listing_id=501,
        status=ListingStatus.OPEN,
        quantity_remaining=6,
        unit_price=Money.from_copper(140),
        amended_at=at,
    )
    assert reverse(amended) == [
        RowWrite("update", "smp_lst", 501, {"qty_rem": 6, "prc_cp": 140, "sts": "O", "upd_dt": naive})
    ]
    # filled means the remainder hit 0
    assert reverse(ListingFilled(listing_id=501, closed_at=at)) == [
        RowWrite("update", "smp_lst", 501, {"sts": "F", "qty_rem": 0, "upd_dt": naive})
    ]
    # a cancelled (or expired) listing keeps in qty_rem what went back to the seller
    assert reverse(ListingCancelled(listing_id=501, quantity_returned=6, closed_at=at)) == [
        RowWrite("update", "smp_lst", 501, {"sts": "C", "qty_rem": 6, "upd_dt": naive})
    ]
    assert reverse(ListingExpired(listing_id=501, quantity_returned=2, closed_at=at)) == [
        RowWrite("update", "smp_lst", 501, {"sts": "X", "qty_rem": 2, "upd_dt": naive})
    ]


def test_round_trip_through_the_acl_translators_gives_the_same_events():
    [opened] = reverse(OPENED)
    change, row = change_of(opened, None, SUMMER)
    assert translate(change) == [OPENED]
    cancelled = ListingCancelled(listing_id=501, quantity_returned=6, closed_at=SUMMER + timedelta(minutes=5))
    [update] = reverse(cancelled)
    change, _ = change_of(update, row, SUMMER + timedelta(minutes=5))
    events = translate(change)
    assert events[-1] == cancelled
    [sale] = reverse(SALE)
    change, _ = change_of(sale, None, WINTER)
    assert translate(change) == [SALE]


def test_the_autumn_hour_that_happens_twice_round_trips_with_the_commit_time():
    first = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = datetime(2024, 10, 27, 1, 30, tzinfo=UTC)  # 02:30 CET, the same wall clock
    assert legacy_wall_clock(first) == legacy_wall_clock(second) == datetime(2024, 10, 27, 2, 30)
    for moment in (first, second):
        [write] = reverse(replace(SALE, sold_at=moment))
        change, _ = change_of(write, None, moment)
        assert translate(change)[0].sold_at == moment


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (replace(SALE, total=Money.from_copper(601)), "total 601 cp != quantity 4 x unit price 150 cp"),
        (replace(SALE, seller_proceeds=Money.from_copper(571)), "seller_proceeds 571 cp"),
        (replace(SALE, fee=Money.from_copper(700), seller_proceeds=Money.from_copper(0)), "fee 700 cp exceeds"),
        (replace(SALE, quantity=0, total=Money.from_copper(0)), "quantity 0"),
        (replace(SALE, unit_price=Money(Decimal("0.00015"))), "not a whole number of copper"),
        (replace(SALE, unit_price=Money(Decimal("1"), "EUR")), "currency 'EUR'"),
        (replace(OPENED, quantity_remaining=11), "exceeds quantity"),
        (replace(OPENED, seller_id=0), "seller_id must be a positive id"),
        (replace(OPENED, opened_at=datetime(2024, 6, 1, 12, 0)), "naive time"),
        (ListingRemoved(listing_id=501), "does not apply ListingRemoved.v1"),
    ],
)
def test_events_that_cannot_become_legacy_rows_say_why(event, reason):
    with pytest.raises(ReverseTranslationError, match=reason.replace("(", r"\(")):
        reverse(event)


def test_copper_is_exact():
    assert copper(Money(Decimal("12.3456")), "x") == 123456
    assert copper(Money(Decimal("1.0000")), "x") == 10000
    with pytest.raises(ReverseTranslationError, match="negative"):
        copper(Money(Decimal("-0.0001")), "x")
