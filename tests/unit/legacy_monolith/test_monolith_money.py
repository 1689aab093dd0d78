"""Pure logic of the monolith: money formatting, fees, candle arithmetic,
and the seeder's random helpers (no database)."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.conf import settings

from legacy_monolith.market import seeding
from legacy_monolith.market.selectors import history_candle_count
from legacy_monolith.market.services import market_fee
from legacy_monolith.smp.money import format_copper, gold, money_json


@pytest.mark.parametrize(
    ("copper", "text"),
    [
        (0, "0c"),
        (5, "5c"),
        (99, "99c"),
        (100, "1s 0c"),
        (105, "1s 5c"),
        (10_000, "1g 0s 0c"),
        (123_456, "12g 34s 56c"),
        (-105, "-1s 5c"),
        (gold(1_000_000) + 1, "1000000g 0s 1c"),
    ],
)
def test_format_copper(copper: int, text: str) -> None:
    assert format_copper(copper) == text


def test_money_json_keeps_exact_copper() -> None:
    assert money_json(123_456) == {"copper": 123_456, "display": "12g 34s 56c"}


@pytest.mark.parametrize(("total", "fee"), [(0, 0), (19, 0), (20, 1), (39, 1), (1_000, 50), (123_457, 6_172)])
def test_market_fee_is_five_percent_rounded_down(total: int, fee: int) -> None:
    assert market_fee(total_copper=total) == fee


def test_seeder_fee_matches_the_settings() -> None:
    assert seeding.MARKET_FEE_PERCENT == settings.SMP_MARKET_FEE_PERCENT


@pytest.mark.parametrize(("interval", "days", "count"), [("1h", 7, 168), ("5m", 1, 288), ("1d", 90, 90)])
def test_history_candle_count(interval: str, days: int, count: int) -> None:
    assert history_candle_count(interval=interval, days=days) == count


def test_split_preserves_the_total_and_zero_weights() -> None:
    shares = seeding._split(1_000, [3.0, 0.0, 1.0], random.Random(1))
    assert sum(shares) == 1_000
    assert shares[1] == 0
    assert 700 <= shares[0] <= 800


def test_activity_times_are_sorted_inside_the_span_and_favour_evenings() -> None:
    start = dt.datetime(2026, 1, 1, 0, 0)
    offsets = seeding._activity_times(random.Random(2), 5_000, start, 86_400.0)
    assert offsets == sorted(offsets)
    assert offsets[0] >= 0 and offsets[-1] < 86_400
    night = sum(1 for o in offsets if 3 <= o / 3600 < 5)
    evening = sum(1 for o in offsets if 20 <= o / 3600 < 22)
    assert evening > 5 * night
