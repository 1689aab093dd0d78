"""Answers' facts kept in the API process, so a read costs no database trip.

Why this is exact and not a TTL cache: an item's rate or history at an
instant is a pure function of the item's trades in a window ending at that
instant. Between two changes of that set of trades the facts stay the same
(only the answer's own ``as_of`` moves), and the set changes only

- when the projector writes something about the item: it announces the
  item ids in the same transaction (``adapters.change_feed``), and the
  announcement drops the item's entries here;
- when time moves a trade across the window's edge: its oldest trade leaves
  when it is exactly as old as the window, and a trade stamped ahead of the
  clock enters at its time. Each entry carries that instant
  (:attr:`Facts.valid_until`) and is not served from it on.

Races: a read takes a :meth:`ReadCache.ticket` before it queries and stores
its facts only if no announcement about the item (and no reset) came in
between, so facts read before a change can never outlive the change's
announcement. While the change feed is not connected nothing is stored or
served (every read goes to the database), so a lost announcement cannot
leave a stale entry behind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

#: More entries than this and the cache starts over (an answer is a few
#: hundred bytes; the bound keeps a scan of random ids from growing memory).
DEFAULT_MAX_ENTRIES = 50_000


@dataclass
class Facts(Generic[T]):
    """What answers about one item are made of, true for every market
    instant in ``[computed_at, valid_until)`` (``valid_until`` ``None``:
    until the item changes). ``value`` ``None`` means an unknown item."""

    value: T | None
    computed_at: dt.datetime
    valid_until: dt.datetime | None
    _rendered: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def rendered(self, render: Callable[[T | None], bytes]) -> bytes:
        """``render(value)``, computed once: an answer that does not depend
        on the instant (history) is serialised once per change, not per request."""
        if self._rendered is None:
            self._rendered = render(self.value)
        return self._rendered

    def holds_at(self, moment: dt.datetime) -> bool:
        # The lower bound matters: the market's wall clock goes back an hour
        # on the night DST ends.
        return self.computed_at <= moment and (self.valid_until is None or moment < self.valid_until)


def earliest(*moments: dt.datetime | None) -> dt.datetime | None:
    """The first of the instants given (``None`` ones ignored; ``None`` if all are)."""
    present = [moment for moment in moments if moment is not None]
    return min(present) if present else None


Ticket = tuple[int, int]


class ReadCache:
    """Per-item facts, keyed by what was asked (``("rate",)``, ``("history", "1h", 7)``...)."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._items: dict[int, dict[Hashable, Facts[object]]] = {}
        self._size = 0
        self._versions: dict[int, int] = {}  # bumped by each announcement about the item
        self._epoch = 0  # bumped by every reset and every loss of the change feed
        self.following = False
        self.hits = 0
        self.misses = 0

    def ticket(self, item_id: int) -> Ticket:
        """Take before reading the database; give back to :meth:`put`."""
        return (self._epoch, self._versions.get(item_id, 0))

    def get(self, item_id: int, key: Hashable, moment: dt.datetime) -> Facts[object] | None:
        facts = self._items.get(item_id, {}).get(key) if self.following else None
        if facts is None or not facts.holds_at(moment):
            self.misses += 1
            return None
        self.hits += 1
        return facts

    def put(self, item_id: int, key: Hashable, facts: Facts[object], ticket: Ticket) -> None:
        """Keep ``facts`` unless the item changed since ``ticket`` was taken."""
        if not self.following or ticket != self.ticket(item_id):
            return
        if self._size >= self.max_entries:
            self._drop_everything()
        entries = self._items.setdefault(item_id, {})
        self._size += key not in entries
        entries[key] = facts

    def changed(self, item_ids: Iterable[int]) -> None:
        """The projector changed these items."""
        for item_id in item_ids:
            self._versions[item_id] = self._versions.get(item_id, 0) + 1
            self._size -= len(self._items.pop(item_id, {}))

    def changed_everything(self) -> None:
        """A rebuild, or an announcement too long to name its items."""
        self._drop_everything()

    def start_following(self) -> None:
        """The change feed is listening: from now on no change goes unannounced."""
        self._drop_everything()
        self.following = True

    def stop_following(self) -> None:
        """The change feed is lost: announcements may be missed, so keep nothing."""
        self.following = False
        self._drop_everything()

    def _drop_everything(self) -> None:
        self._epoch += 1
        self._items.clear()
        self._versions.clear()
        self._size = 0

    def __len__(self) -> int:
        return self._size
