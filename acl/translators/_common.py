"""Helpers every translator uses: typed column access, legacy local time to
UTC, JSON-in-text columns. Each failure raises :class:`TranslationError`
with a reason an operator can act on (it ends up in the dead-letter topic)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, TypeVar, overload
from zoneinfo import ZoneInfo

from new_services.contracts.values import Money

#: The monolith runs with USE_TZ=False and TIME_ZONE=Europe/Paris.
LEGACY_ZONE = ZoneInfo("Europe/Paris")
_EPOCH = datetime(1970, 1, 1)
_NOW_WINDOW = timedelta(minutes=30)

E = TypeVar("E", bound=Enum)


class TranslationError(ValueError):
    """This change cannot become a domain event; the message is the reason."""


T = TypeVar("T")


@overload
def column(row: Mapping[str, Any], name: str, kind: type[T]) -> T: ...
@overload
def column(row: Mapping[str, Any], name: str, kind: tuple[type, ...]) -> Any: ...
def column(row: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    """``row[name]``, which must be present, non-null and of ``kind``."""
    value = row.get(name)
    if type(value) is kind:  # fast path (hot: ~10 calls per change); bool is not int here
        return value
    if name not in row or row[name] is None:
        raise TranslationError(f"missing required field {name!r}")
    value = row[name]
    if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise TranslationError(f"field {name!r}: expected {kind}, got a boolean")
    if not isinstance(value, kind):
        raise TranslationError(f"field {name!r}: expected {kind}, got {type(value).__name__}")
    return value


def non_negative(row: Mapping[str, Any], name: str) -> int:
    value = row.get(name)
    if type(value) is not int:  # fast path: a plain int needs no int()
        value = int(column(row, name, int))
    if value < 0:
        raise TranslationError(f"field {name!r} is negative ({value})")
    return value


def code(row: Mapping[str, Any], name: str, mapping: Mapping[Any, E]) -> E:
    """Map a legacy char/int code to its enum; unknown codes are an error."""
    value = row.get(name)
    if value not in mapping:
        raise TranslationError(f"unknown code {value!r} in field {name!r}")
    return mapping[value]


def legacy_time(row: Mapping[str, Any], name: str, commit_ts_ms: int | None = None) -> datetime:
    """A naive Europe/Paris timestamp column as an aware UTC datetime.

    Debezium sends ``timestamp without time zone`` as MicroTimestamp: micro-
    seconds since the epoch *of the wall-clock reading*. We rebuild the wall
    clock and attach Paris time. Two DST edge cases:

    - autumn, 02:00-03:00 happens twice: the reading is ambiguous. When the
      change's commit time is known we pick the reading closest to it (the
      monolith writes ``now()``) if one is within 30 minutes of it, otherwise
      the first (summer-time) reading.
    - spring, 02:00-03:00 never happens: such a reading is kept on the
      winter offset (what zoneinfo does with fold=0); the monolith cannot
      produce it with ``now()``.
    """
    raw = column(row, name, int)
    offsets = _hour_offsets(raw // _HOUR_US) if raw >= _CACHE_FROM_US else None
    if offsets is not None:
        # Same arithmetic as below without zoneinfo: UTC = wall - offset.
        # (timedelta * int is exact, and half the cost of timedelta(microseconds=).)
        first = _UTC_EPOCH + _MICROSECOND * (raw - offsets[0])
        if offsets[0] == offsets[1] or commit_ts_ms is None:
            return first
        second = _UTC_EPOCH + _MICROSECOND * (raw - offsets[1])
    else:
        wall = _EPOCH + timedelta(microseconds=raw)
        first = wall.replace(tzinfo=LEGACY_ZONE, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=LEGACY_ZONE, fold=1).astimezone(UTC)
    if first == second or commit_ts_ms is None:
        return first
    commit = datetime.fromtimestamp(commit_ts_ms / 1000, tz=UTC)
    closest = min((first, second), key=lambda candidate: abs(candidate - commit))
    return closest if abs(closest - commit) <= _NOW_WINDOW else first


_HOUR_US = 3_600_000_000
_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: Since 1980 every Europe/Paris offset change happens on a whole wall-clock
#: hour, so one wall hour has one offset per fold; earlier readings (LMT, war
#: time) take the zoneinfo path every time.
_CACHE_FROM_US = 315_532_800_000_000  # 1980-01-01


@functools.lru_cache(maxsize=4096)
def _hour_offsets(wall_hour: int) -> tuple[int, int] | None:
    """UTC offsets (microseconds) of the wall hour for fold 0 and fold 1, or
    None if they change within the hour. Saves ~2 zoneinfo conversions per
    timestamp column on the hot path (rows written together share an hour)."""
    start = _EPOCH + timedelta(microseconds=wall_hour * _HOUR_US)
    end = start + timedelta(microseconds=_HOUR_US - 1)
    result = []
    for fold in (0, 1):
        a, b = (
            start.replace(tzinfo=LEGACY_ZONE, fold=fold).utcoffset(),
            end.replace(tzinfo=LEGACY_ZONE, fold=fold).utcoffset(),
        )
        if a is None or a != b:
            return None
        result.append(a // timedelta(microseconds=1))
    return result[0], result[1]


@functools.lru_cache(maxsize=8192)
def money(copper: int) -> Money:
    """``Money.from_copper``, one shared (frozen) instance per amount: prices
    repeat a lot and a sale carries four amounts; building the Decimal is
    most of the cost of a Money."""
    return Money.from_copper(copper)


def commit_time(commit_ts_ms: int) -> datetime:
    return datetime.fromtimestamp(commit_ts_ms / 1000, tz=UTC)


def json_text(row: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A free-text column holding a JSON object; empty string means ``{}``."""
    text = row.get(name)
    if text is None or (isinstance(text, str) and not text.strip()):
        return {}
    if not isinstance(text, str):
        raise TranslationError(f"field {name!r}: expected text, got {type(text).__name__}")
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise TranslationError(f"field {name!r} is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise TranslationError(f"field {name!r} must hold a JSON object, got {type(parsed).__name__}")
    return parsed


def optional_of(obj: Mapping[str, Any], key: str, kind: type, *, where: str) -> Any:
    """``obj[key]`` if present and of ``kind`` (bools are not ints), else None if absent."""
    if key not in obj or obj[key] is None:
        return None
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TranslationError(f"{where}.{key}: expected {kind.__name__}, got {type(value).__name__}")
    return value
