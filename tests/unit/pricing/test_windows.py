"""The cover of a time range holds each trade of the range exactly once,
and nothing else: checked against brute force over random trades and ranges,
including trades and range ends on bucket boundaries."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from new_services.pricing.domain.windows import (
    INTERVALS,
    TimeRange,
    bucket_ceil,
    bucket_floor,
    cover,
    history_layout,
)

BASE = dt.datetime(2026, 10, 24, 0, 0)
FIVE_MINUTES_US = 5 * 60 * 1_000_000


def moments() -> st.SearchStrategy[dt.datetime]:
    """Times over four days, often exactly on a 5-minute boundary."""
    on_boundary = st.integers(0, 4 * 288).map(lambda n: BASE + dt.timedelta(microseconds=n * FIVE_MINUTES_US))
    anywhere = st.integers(0, 4 * 86_400 * 1_000_000).map(lambda us: BASE + dt.timedelta(microseconds=us))
    return st.one_of(on_boundary, anywhere)


def covered(span_cover, trades: list[dt.datetime]) -> list[dt.datetime]:
    """Each trade once per part of the cover that holds it."""
    found = []
    for trade in trades:
        for run in span_cover.runs:
            if run.first <= bucket_floor(trade, run.interval) < run.end:
                found.append(trade)
        for raw in span_cover.raw:
            if trade in raw:
                found.append(trade)
    return sorted(found)


@settings(max_examples=400, deadline=None)
@given(st.lists(moments(), max_size=40), moments(), moments(), st.booleans(), st.booleans())
def test_a_cover_holds_every_trade_of_the_range_once(trades, a, b, start_inclusive, end_inclusive) -> None:
    start, end = min(a, b), max(a, b)
    span = TimeRange(start, end, start_inclusive, end_inclusive)
    assert covered(cover(span), trades) == sorted(t for t in trades if t in span)


@settings(max_examples=200, deadline=None)
@given(moments())
def test_raw_edges_are_shorter_than_the_finest_bucket(start) -> None:
    span = TimeRange(start, start + dt.timedelta(hours=24))
    parts = cover(span)
    assert all(raw.end - raw.start <= dt.timedelta(minutes=5) for raw in parts.raw)
    assert len(parts.runs) <= 12  # coarse in the middle, finer towards the edges


def test_a_24h_window_reads_whole_four_hour_candles_in_the_middle() -> None:
    as_of = dt.datetime(2026, 12, 1, 14, 37, 12, 345678)
    parts = cover(TimeRange(as_of - dt.timedelta(hours=24), as_of))
    assert [r.interval for r in parts.runs if r.interval == "4h"] == ["4h"]
    assert parts.raw[0].start == as_of - dt.timedelta(hours=24) and not parts.raw[0].start_inclusive
    assert parts.raw[-1].end == as_of and parts.raw[-1].end_inclusive


@settings(max_examples=300, deadline=None)
@given(st.lists(moments(), max_size=40), moments(), st.sampled_from(sorted(INTERVALS)), st.integers(1, 3))
def test_history_layout_buckets_every_trade_of_the_range_once(trades, until, interval, days) -> None:
    since = until - dt.timedelta(days=days)
    layout = history_layout(interval, since, until)
    step = INTERVALS[interval]
    placed: dict[dt.datetime, list[dt.datetime]] = {}
    for trade in trades:
        if trade in layout.first_partial:
            placed.setdefault(layout.first_bucket, []).append(trade)
        if layout.middle and layout.middle.first <= bucket_floor(trade, interval) < layout.middle.end:
            placed.setdefault(bucket_floor(trade, interval), []).append(trade)
        if layout.last_partial and trade in layout.last_partial:
            placed.setdefault(layout.last_bucket, []).append(trade)
    expected: dict[dt.datetime, list[dt.datetime]] = {}
    for trade in trades:
        if since < trade <= until:
            expected.setdefault(bucket_floor(trade, interval), []).append(trade)
    assert {k: sorted(v) for k, v in placed.items()} == {k: sorted(v) for k, v in expected.items()}
    assert all(bucket < bucket_ceil(until, interval) + step for bucket in placed)


def test_buckets_align_on_local_midnight_like_date_bin() -> None:
    moment = dt.datetime(2026, 10, 25, 2, 47, 3)
    assert bucket_floor(moment, "4h") == dt.datetime(2026, 10, 25, 0, 0)
    assert bucket_floor(moment, "15m") == dt.datetime(2026, 10, 25, 2, 45)
    assert bucket_ceil(dt.datetime(2026, 10, 25, 3, 0), "1h") == dt.datetime(2026, 10, 25, 3, 0)
