"""The ACL's faster writing of the two value types the codec leaves to
Python (Decimal amounts, datetimes), with exactly the text of
``new_services.contracts.payload.json_default`` (a unit test compares them).

Why here: the ACL encodes every change of a snapshot, a sale carries four
amounts and every event the commit time, and these shortcuts halve the cost
of those values; consumers of the contracts decode rather than encode, so
the codec keeps the plain version and the ACL plugs this one in
(:meth:`Codec.with_json_default`).

- an amount: ``str(d)`` is ``format(d, "f")`` unless it chose scientific
  notation (then it holds an ``E``), at half the cost;
- a time: the date part cached by day and a two-digit table instead of
  ``isoformat``, and each moment written once (the events of a commit share
  one datetime, see ``acl.cloudevents``; equal aware datetimes are the same
  instant, so the same UTC text).
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from new_services.contracts.payload import json_default

__all__ = ["fast_json_default", "utc_text"]

_TWO_DIGITS = tuple(f"{n:02d}" for n in range(60))  # "00".."59": hours, minutes, seconds


@functools.lru_cache(maxsize=1024)
def _iso_date(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()  # 4-digit year, like isoformat of the whole


def _decimal_text(amount: Decimal) -> str:
    text = str(amount)
    return text if "E" not in text else format(amount, "f")


@functools.lru_cache(maxsize=4096)
def utc_text(moment: datetime) -> str:
    """``2024-10-27T00:30:00.000000Z``, as ``payload.format_time`` writes it."""
    if moment.tzinfo is None:
        raise ValueError("refusing a naive datetime in an event")
    u = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return (
        f"{_iso_date(u.toordinal())}T{_TWO_DIGITS[u.hour]}:{_TWO_DIGITS[u.minute]}:"
        f"{_TWO_DIGITS[u.second]}.{u.microsecond:06d}Z"
    )


def fast_json_default(value: Any) -> Any:
    """orjson's ``default`` for the ACL's codec."""
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, datetime):
        return utc_text(value)
    return json_default(value)
