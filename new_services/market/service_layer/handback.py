"""Handing the writes back to the monolith after a flip back to ``legacy``.

A flip back makes the owner row ``legacy`` with ``handover_from = market``
(the proxy's route store). The monolith takes no market write until it sees
that every event the market ever wrote has been applied to its tables by
sync-back (otherwise it could sell what the market already sold, or hand
out a sale id the market used). Only the market knows when its last event
exists, so it declares it:

1. no write of its own is in flight (counted before each owner check, so a
   write that starts now reads the new owner and is refused);
2. no saga is unfinished (a buy that reserved must still settle or
   compensate, and its events must be in the outbox);
3. the outbox is empty (every row is on the broker);
4. then the end offsets of the market topic, read from the broker, bound
   every event it wrote: they go on the owner row (``handover_offsets``).

The monolith compares them with sync-back's stored offsets in its own
database and takes writes again once sync-back has reached them
(``legacy_monolith/market/ownership.py``). See docs/market-write-side.md,
"Handing the writes back".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from new_services.contracts.events import topic_for
from new_services.market.adapters.ownership import CONTEXT, Ownership

log = logging.getLogger(__name__)

#: topic -> partition (as text, JSON keys) -> the next offset to be written
Offsets = dict[str, dict[str, int]]
EndOffsets = Callable[[list[str]], Offsets]

#: how often the owner row is read while the market does not hand back
CHECK_EVERY_S = 0.25


class SettledWrites(Protocol):
    async def writes_settled(self) -> bool:
        """No saga unfinished and no outbox row unpublished."""
        ...


class Handback:
    """Declares the market's last event once the writes went back to legacy."""

    def __init__(self, ownership: Ownership, store: SettledWrites, end_offsets: EndOffsets) -> None:
        self.ownership, self.store, self.end_offsets = ownership, store, end_offsets
        self.topics = [topic_for(CONTEXT)]

    async def declare_if_due(self) -> bool:
        """One check: True when this call declared the handback."""
        owner = await self.ownership.owner()
        if not owner.handing_back or owner.route_version is None:
            return False
        if self.ownership.in_flight or not await self.store.writes_settled():
            return False
        offsets = await asyncio.to_thread(self.end_offsets, self.topics)
        declared = await self.ownership.declare_handed_back(owner.route_version, offsets)
        if declared:
            log.info("handed the market's writes back to legacy (route version %s) at %s", owner.route_version, offsets)
        return declared

    async def run_forever(self) -> None:
        """Check every :data:`CHECK_EVERY_S` until cancelled; a failed check
        (a database or the broker away) is logged and tried again."""
        while True:
            try:
                await self.declare_if_due()
            except Exception as exc:
                log.warning("handback check failed: %s; retrying", exc)
            await asyncio.sleep(CHECK_EVERY_S)
