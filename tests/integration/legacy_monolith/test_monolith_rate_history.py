"""The exchange rate and OHLC history, computed from ``smp_sale`` rows with
known prices and times (the numbers the pricing service must reproduce)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from legacy_monolith.market.models import Listing, Sale
from legacy_monolith.market.selectors import item_history, item_rate
from legacy_monolith.players.models import Player

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 12, 0)


@pytest.fixture
def add_sale(make_player: Callable[..., Player], make_listing: Callable[..., Listing]) -> Callable[..., Sale]:
    """Insert a historical sale row at ``ago`` before NOW (bypassing the
    service, which stamps the current time)."""
    seller, buyer = make_player(), make_player()
    listing = make_listing(seller, quantity=1_000, price=1)

    def add(*, ago: dt.timedelta, price: int, quantity: int = 1, now: dt.datetime = NOW) -> Sale:
        total = price * quantity
        return Sale.objects.create(
            listing=listing,
            buyer=buyer,
            seller=seller,
            item_id=listing.item_id,
            quantity=quantity,
            unit_price_copper=price,
            total_copper=total,
            fee_copper=total * 5 // 100,
            sold_at=now - ago,
        )

    add.item_id = listing.item_id  # type: ignore[attr-defined]
    return add


def test_rate_aggregates_the_last_24_hours(add_sale: Callable[..., Sale]) -> None:
    add_sale(ago=dt.timedelta(hours=30), price=800)  # reference: last sale before the window
    add_sale(ago=dt.timedelta(hours=25), price=1_000)
    add_sale(ago=dt.timedelta(hours=10), price=1_100, quantity=3)
    add_sale(ago=dt.timedelta(hours=2), price=1_250, quantity=1)
    add_sale(ago=dt.timedelta(hours=-1), price=9_999)  # in the future of NOW: ignored
    rate = item_rate(item_id=add_sale.item_id, now=NOW)  # type: ignore[attr-defined]
    assert rate.last_price_copper == 1_250
    assert rate.last_sold_at == NOW - dt.timedelta(hours=2)
    assert (rate.volume_quantity, rate.volume_trades, rate.volume_copper) == (4, 2, 4_550)
    assert rate.average_copper == 4_550 // 4
    assert rate.reference_price_copper == 1_000
    assert (rate.change_copper, rate.change_percent) == (250, 25.0)


def test_rate_without_history_before_the_window_compares_with_the_first_trade(add_sale: Callable[..., Sale]) -> None:
    add_sale(ago=dt.timedelta(hours=20), price=400)
    add_sale(ago=dt.timedelta(hours=1), price=300)
    rate = item_rate(item_id=add_sale.item_id, now=NOW)  # type: ignore[attr-defined]
    assert (rate.change_copper, rate.change_percent) == (-100, -25.0)


def test_rate_endpoint_shape(api: APIClient, add_sale: Callable[..., Sale]) -> None:
    now = timezone.now()  # the endpoint uses the real clock
    add_sale(ago=dt.timedelta(hours=30), price=10_000, now=now)
    add_sale(ago=dt.timedelta(hours=1), price=12_345, quantity=2, now=now)
    response = api.get(f"/api/items/{add_sale.item_id}/rate/")  # type: ignore[attr-defined]
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "item_id": add_sale.item_id,  # type: ignore[attr-defined]
        "sku": body["sku"],
        "as_of": body["as_of"],
        "window_hours": 24,
        "last_price": {"copper": 12_345, "display": "1g 23s 45c"},
        "last_sold_at": (now - dt.timedelta(hours=1)).isoformat(),
        "average_price_24h": {"copper": 12_345, "display": "1g 23s 45c"},
        "volume_24h": {"quantity": 2, "trades": 1, "value": {"copper": 24_690, "display": "2g 46s 90c"}},
        "change_24h": {"copper": 2_345, "display": "23s 45c", "percent": 23.45},
    }
    assert dt.datetime.fromisoformat(body["as_of"]) >= now


def test_rate_of_an_item_never_sold(api: APIClient, make_item) -> None:
    item = make_item()
    body = api.get(f"/api/items/{item.pk}/rate/").json()
    assert body["last_price"] is None and body["average_price_24h"] is None and body["change_24h"] is None
    assert body["volume_24h"] == {"quantity": 0, "trades": 0, "value": {"copper": 0, "display": "0c"}}


def test_rate_and_history_of_an_unknown_item_are_404(api: APIClient) -> None:
    assert api.get("/api/items/999999/rate/").status_code == 404
    assert api.get("/api/items/999999/history/").status_code == 404


def test_history_candles(add_sale: Callable[..., Sale]) -> None:
    # NOW is 12:00: the 10:00 bucket gets three trades, the 11:00 bucket one.
    add_sale(ago=dt.timedelta(minutes=110), price=100)  # 10:10 open
    add_sale(ago=dt.timedelta(minutes=100), price=150, quantity=2)  # 10:20 high
    add_sale(ago=dt.timedelta(minutes=70), price=90)  # 10:50 low & close
    add_sale(ago=dt.timedelta(minutes=30), price=120, quantity=5)  # 11:30
    add_sale(ago=dt.timedelta(days=8), price=1)  # outside days=7
    candles = item_history(item_id=add_sale.item_id, interval="1h", days=7, now=NOW)  # type: ignore[attr-defined]
    assert [(c.start, c.open, c.high, c.low, c.close, c.volume, c.trades) for c in candles] == [
        (dt.datetime(2026, 3, 10, 10), 100, 150, 90, 90, 4, 3),
        (dt.datetime(2026, 3, 10, 11), 120, 120, 120, 120, 5, 1),
    ]
    daily = item_history(item_id=add_sale.item_id, interval="1d", days=7, now=NOW)  # type: ignore[attr-defined]
    assert [(c.start, c.open, c.close, c.trades) for c in daily] == [(dt.datetime(2026, 3, 10), 100, 120, 4)]


def test_history_endpoint_shape_and_validation(api: APIClient, add_sale: Callable[..., Sale]) -> None:
    add_sale(ago=dt.timedelta(minutes=5), price=777, now=timezone.now())
    url = f"/api/items/{add_sale.item_id}/history/"  # type: ignore[attr-defined]
    body = api.get(url + "?interval=1d&days=2").json()
    assert set(body) == {"item_id", "interval", "days", "candles"}
    assert (body["interval"], body["days"]) == ("1d", 2)
    assert set(body["candles"][-1]) == {"start", "open", "high", "low", "close", "volume", "trades"}
    assert body["candles"][-1]["close"] == 777
    assert api.get(url).json()["interval"] == "1h"  # defaults: 1h over 7 days
    for query, field in [
        ("?interval=7m", "interval"),
        ("?days=0", "days"),
        ("?days=abc", "days"),
        ("?days=91", "days"),
        ("?interval=5m&days=30", "non_field_errors"),
    ]:
        response = api.get(url + query)
        assert response.status_code == 400, query
        assert field in response.json(), query
