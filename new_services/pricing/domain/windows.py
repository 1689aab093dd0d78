"""Time on the market's clock, candle buckets, and how any time range is
covered by stored candles plus a few raw trades.

The market has always quoted in *naive local time* (Europe/Paris wall
clock): the 24 h window is ``(now - 24 h, now]`` in wall-clock arithmetic,
and history buckets are ``date_bin(step, t, 2000-01-01)`` over wall-clock
times, so a DST night has a 23 h or 25 h day. Everything here works on naive
wall-clock datetimes for exactly that reason.

Why a cover: the read model keeps one candle per (item, interval, bucket)
for every interval the history endpoint offers. Any range of time splits
into whole buckets (coarsest first, a handful of rows) and two edges shorter
than the finest bucket (5 minutes), which are read as raw trades. So an
answer costs a bounded number of rows whatever the number of sales, and is
exact to the microsecond: a trade leaves the 24 h window when it is 24 h
old, not when some later event arrives.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

#: ``?interval=`` values and their bucket widths, finest last.
INTERVALS: dict[str, dt.timedelta] = {
    "1d": dt.timedelta(days=1),
    "4h": dt.timedelta(hours=4),
    "1h": dt.timedelta(hours=1),
    "15m": dt.timedelta(minutes=15),
    "5m": dt.timedelta(minutes=5),
}
FINEST = "5m"
#: Buckets are aligned on local midnight (any past midnight works).
BUCKET_ORIGIN = dt.datetime(2000, 1, 1)
RATE_WINDOW = dt.timedelta(hours=24)


def bucket_floor(moment: dt.datetime, interval: str) -> dt.datetime:
    """The start of the ``interval`` bucket holding ``moment`` (PostgreSQL's ``date_bin``)."""
    step = INTERVALS[interval]
    return BUCKET_ORIGIN + ((moment - BUCKET_ORIGIN) // step) * step


def bucket_ceil(moment: dt.datetime, interval: str) -> dt.datetime:
    """The first bucket boundary at or after ``moment``."""
    start = bucket_floor(moment, interval)
    return start if start == moment else start + INTERVALS[interval]


@dataclass(frozen=True)
class TimeRange:
    """A range of wall-clock times, each end open or closed."""

    start: dt.datetime
    end: dt.datetime
    start_inclusive: bool = False
    end_inclusive: bool = True

    def __contains__(self, moment: dt.datetime) -> bool:
        after = moment >= self.start if self.start_inclusive else moment > self.start
        before = moment <= self.end if self.end_inclusive else moment < self.end
        return after and before


@dataclass(frozen=True)
class CandleRun:
    """Consecutive stored buckets of one interval: starts in ``[first, end)``."""

    interval: str
    first: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class Cover:
    """``runs`` of stored candles plus ``raw`` edges that together hold
    exactly the trades of a :class:`TimeRange`."""

    runs: tuple[CandleRun, ...]
    raw: tuple[TimeRange, ...]


def cover(span: TimeRange) -> Cover:
    """Split ``span`` into whole stored buckets and raw edges under 5 minutes."""
    step = INTERVALS[FINEST]
    first = bucket_ceil(span.start, FINEST)
    if first == span.start and not span.start_inclusive:
        first += step  # a bucket starting at an excluded instant would hold it
    last = bucket_floor(span.end, FINEST)  # buckets ending at ``last`` hold only times < last <= end
    if first >= last:
        return Cover(runs=(), raw=(span,))
    raw = []
    if first > span.start:
        raw.append(TimeRange(span.start, first, span.start_inclusive, end_inclusive=False))
    if span.end > last or span.end_inclusive:
        raw.append(TimeRange(last, span.end, start_inclusive=True, end_inclusive=span.end_inclusive))
    return Cover(runs=tuple(_runs(first, last, list(INTERVALS))), raw=tuple(raw))


def _runs(start: dt.datetime, end: dt.datetime, levels: list[str]) -> list[CandleRun]:
    """Whole buckets of the coarsest level that fits, then finer ones on
    each side (every level's boundaries are boundaries of the finer ones)."""
    if start >= end or not levels:
        return []
    level, finer = levels[0], levels[1:]
    first, end_of_run = bucket_ceil(start, level), bucket_floor(end, level)
    if first >= end_of_run:
        return _runs(start, end, finer)
    return [*_runs(start, first, finer), CandleRun(level, first, end_of_run), *_runs(end_of_run, end, finer)]


@dataclass(frozen=True)
class HistoryLayout:
    """How a history request reads: the partial first and last buckets by
    cover, the whole buckets between straight from the interval's candles."""

    first_bucket: dt.datetime
    first_partial: TimeRange
    middle: CandleRun | None
    last_bucket: dt.datetime
    last_partial: TimeRange | None  # None when the whole range is in one bucket


def history_layout(interval: str, since: dt.datetime, until: dt.datetime) -> HistoryLayout:
    """Trades in ``(since, until]`` bucketed by ``interval``."""
    step = INTERVALS[interval]
    first_bucket, last_bucket = bucket_floor(since, interval), bucket_floor(until, interval)
    if first_bucket == last_bucket:
        return HistoryLayout(first_bucket, TimeRange(since, until), None, last_bucket, None)
    middle_start = first_bucket + step
    return HistoryLayout(
        first_bucket=first_bucket,
        first_partial=TimeRange(since, middle_start, end_inclusive=False),
        middle=CandleRun(interval, middle_start, last_bucket) if middle_start < last_bucket else None,
        last_bucket=last_bucket,
        last_partial=TimeRange(last_bucket, until, start_inclusive=True, end_inclusive=True),
    )
