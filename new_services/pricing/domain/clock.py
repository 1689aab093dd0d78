"""The market's wall clock.

Events carry UTC (the ACL undid the monolith's naive local timestamps); the
exchange rate is defined on the wall clock players have always read
(Europe/Paris, naive). This is the one place that converts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class MarketClock:
    zone: ZoneInfo

    @classmethod
    def named(cls, zone_name: str) -> MarketClock:
        return cls(ZoneInfo(zone_name))

    def wall_clock(self, moment: dt.datetime) -> dt.datetime:
        """An aware instant as the market's naive wall-clock reading."""
        return moment.astimezone(self.zone).replace(tzinfo=None)

    def now(self) -> dt.datetime:
        return dt.datetime.now(self.zone).replace(tzinfo=None)
