"""Read-side queries of the market context, including the item exchange rate.

``item_rate`` and ``item_history`` aggregate ``smp_sale`` at request time.
That is the slow read this monolith is known for and the one the new pricing
service (a CQRS read model) is built to replace; keep its results exactly
reproducible: integer copper, floor division, ties broken by sale id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from legacy_monolith.catalog.selectors import item_get
from legacy_monolith.market.models import Listing, Sale
from legacy_monolith.smp.exceptions import NotFound

RATE_WINDOW = dt.timedelta(hours=24)

#: ``?interval=`` values of the history endpoint and their bucket widths.
HISTORY_INTERVALS: dict[str, dt.timedelta] = {
    "5m": dt.timedelta(minutes=5),
    "15m": dt.timedelta(minutes=15),
    "1h": dt.timedelta(hours=1),
    "4h": dt.timedelta(hours=4),
    "1d": dt.timedelta(days=1),
}
HISTORY_MAX_DAYS = 90
HISTORY_MAX_CANDLES = 3000
#: Buckets are aligned on local midnight (any past midnight works).
_BUCKET_ORIGIN = dt.datetime(2000, 1, 1)


def listing_list(*, item: int | None = None, seller: int | None = None, status: str | None = None) -> QuerySet[Listing]:
    """Listings, newest first, optionally filtered by item, seller, status."""
    listings = Listing.objects.order_by("-id")
    if item is not None:
        listings = listings.filter(item_id=item)
    if seller is not None:
        listings = listings.filter(seller_id=seller)
    if status:
        listings = listings.filter(status=status)
    return listings


def listing_get(*, listing_id: int) -> Listing:
    listing = Listing.objects.filter(pk=listing_id).first()
    if listing is None:
        raise NotFound(f"Listing {listing_id} not found.")
    return listing


def sale_list(
    *, item: int | None = None, buyer: int | None = None, seller: int | None = None, listing: int | None = None
) -> QuerySet[Sale]:
    """Sales, most recent first (ties by id), optionally filtered."""
    sales = Sale.objects.order_by("-sold_at", "-id")
    if item is not None:
        sales = sales.filter(item_id=item)
    if buyer is not None:
        sales = sales.filter(buyer_id=buyer)
    if seller is not None:
        sales = sales.filter(seller_id=seller)
    if listing is not None:
        sales = sales.filter(listing_id=listing)
    return sales


@dataclass(frozen=True)
class ItemRate:
    """An item's exchange rate at ``as_of``; prices in integer copper.

    ``average_copper`` is volume-weighted (sum of totals // sum of
    quantities). ``change_copper`` compares the last price with the
    *reference price*: the last sale at or before ``as_of - 24 h``, or, when
    the item had no sale before the window, the first sale inside it.
    """

    item_id: int
    sku: str
    as_of: dt.datetime
    last_price_copper: int | None
    last_sold_at: dt.datetime | None
    average_copper: int | None
    volume_quantity: int
    volume_trades: int
    volume_copper: int
    reference_price_copper: int | None

    @property
    def change_copper(self) -> int | None:
        if self.last_price_copper is None or self.reference_price_copper is None:
            return None
        return self.last_price_copper - self.reference_price_copper

    @property
    def change_percent(self) -> float | None:
        change = self.change_copper
        if change is None or not self.reference_price_copper:
            return None
        return round(change * 100 / self.reference_price_copper, 2)


def item_rate(*, item_id: int, now: dt.datetime | None = None) -> ItemRate:
    """Compute the rate from ``smp_sale`` now (four indexed queries)."""
    item = item_get(item_id=item_id)
    as_of = now or timezone.now()
    since = as_of - RATE_WINDOW
    sales = Sale.objects.filter(item_id=item.pk, sold_at__lte=as_of)
    window = sales.filter(sold_at__gt=since).aggregate(
        trades=Count("id"), quantity=Sum("quantity"), copper=Sum("total_copper")
    )
    last = sales.order_by("-sold_at", "-id").values_list("unit_price_copper", "sold_at").first()
    reference = sales.filter(sold_at__lte=since).order_by("-sold_at", "-id").values_list("unit_price_copper").first()
    if reference is None:
        reference = sales.filter(sold_at__gt=since).order_by("sold_at", "id").values_list("unit_price_copper").first()
    quantity = window["quantity"] or 0
    copper = window["copper"] or 0
    return ItemRate(
        item_id=item.pk,
        sku=item.sku,
        as_of=as_of,
        last_price_copper=last[0] if last else None,
        last_sold_at=last[1] if last else None,
        average_copper=copper // quantity if quantity else None,
        volume_quantity=quantity,
        volume_trades=window["trades"],
        volume_copper=copper,
        reference_price_copper=reference[0] if reference else None,
    )


@dataclass(frozen=True)
class Candle:
    """One OHLC bucket; empty buckets are not returned (sparse series)."""

    start: dt.datetime
    open: int
    high: int
    low: int
    close: int
    volume: int
    trades: int


_HISTORY_SQL = """
    SELECT date_bin(%(step)s, sld_at, %(origin)s) AS bucket,
           (array_agg(prc_cp ORDER BY sld_at, id))[1] AS open,
           max(prc_cp) AS high,
           min(prc_cp) AS low,
           (array_agg(prc_cp ORDER BY sld_at DESC, id DESC))[1] AS close,
           sum(qty) AS volume,
           count(*) AS trades
      FROM smp_sale
     WHERE itm_id = %(item_id)s AND sld_at > %(since)s AND sld_at <= %(until)s
  GROUP BY bucket
  ORDER BY bucket
"""


def history_candle_count(*, interval: str, days: int) -> int:
    """How many buckets a request spans, to refuse absurd ones up front."""
    return int(dt.timedelta(days=days) / HISTORY_INTERVALS[interval])


def item_history(*, item_id: int, interval: str, days: int, now: dt.datetime | None = None) -> list[Candle]:
    """OHLC candles of the item's sales over the last ``days``, buckets of
    ``interval`` aligned on local midnight (naive local time, so a DST night
    has a 23 h or 25 h day, as it always had)."""
    item = item_get(item_id=item_id)
    until = now or timezone.now()
    params = {
        "step": HISTORY_INTERVALS[interval],
        "origin": _BUCKET_ORIGIN,
        "item_id": item.pk,
        "since": until - dt.timedelta(days=days),
        "until": until,
    }
    with connection.cursor() as cursor:
        cursor.execute(_HISTORY_SQL, params)
        return [Candle(*row) for row in cursor.fetchall()]
