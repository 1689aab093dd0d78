"""The market's wall clock: the monolith stores and answers naive
Europe/Paris times; events carry UTC. The one place that converts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class MarketClock:
    zone: ZoneInfo
    utcnow: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)

    @classmethod
    def named(cls, zone: str) -> MarketClock:
        return cls(ZoneInfo(zone))

    def wall_clock(self, moment: dt.datetime) -> dt.datetime:
        """An aware instant as the monolith's naive local reading."""
        return moment.astimezone(self.zone).replace(tzinfo=None)

    def now(self) -> tuple[dt.datetime, dt.datetime]:
        """(UTC instant, its wall-clock reading)."""
        instant = self.utcnow()
        return instant, self.wall_clock(instant)
