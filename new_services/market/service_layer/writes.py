"""The write side: list, cancel, buy, each a saga with persisted state
(``domain/saga.py``) over the store and the monolith's internal API.

- **buy**: *reserve* (one market transaction: lock the listing row, check the
  monolith's rules in its order, take the quantity out, saga ``reserved``) ->
  *settle* (``POST /_internal/settlements/``, key ``<saga>:settle``) ->
  *confirm* (one transaction: the sale with the settlement's fee, the outbox
  events, saga ``done``). A refused settlement is compensated (the
  reservation released, saga ``compensated``) and its answer returned as is.
  A settlement whose outcome stays unknown is reversed
  (``/_internal/settlements/<key>/reverse/``, which also bars a late apply)
  and then released: the caller gets a 503.
- **list**: saga ``escrowing`` -> escrow *take* (key ``<saga>:escrow``) ->
  the listing and its event, saga ``done``; a refused take ends ``refused``
  with the monolith's answer. Forward only: an unknown outcome is retried
  with the same key (on resume), never undone blindly.
- **cancel**: one transaction (listing cancelled, event, saga ``cancelled``)
  -> escrow *return* (key ``<saga>:escrow-return``) -> ``done``.

Every state change is a transaction that locks the saga row and checks the
state it expects, so a resumer and a request never apply one step twice.
``crash_after`` (``STRANGLER_MARKET_CRASH_AFTER``) kills the process with
SIGKILL right after the named state is committed: the fault injection of the
resume tests; inert when unset.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from new_services.market.domain import saga as states
from new_services.market.domain.clock import MarketClock
from new_services.market.domain.model import (
    ACTIVE,
    CANCELLED,
    EXPIRED,
    Item,
    Listing,
    Player,
    Refusal,
    Sale,
    check_buy,
    check_cancel,
    check_listable,
    listing_not_found,
)
from new_services.market.domain.saga import Saga
from new_services.market.service_layer import events
from new_services.market.service_layer.ports import Answer, MarketStore, MarketTx, Monolith, MonolithUnavailable

log = logging.getLogger(__name__)


class Rejected(Exception):
    """The monolith refused a step: its status and body are the answer."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status, self.body = status, body


class MarketWrites:
    def __init__(
        self,
        store: MarketStore,
        monolith: Monolith,
        clock: MarketClock,
        *,
        crash_after: str | None = None,
        attempts: int = 3,
        retry_delay_s: float = 0.2,
        crash: Callable[[], None] | None = None,
    ) -> None:
        self.store, self.monolith, self.clock = store, monolith, clock
        self.crash_after = crash_after
        self.attempts, self.retry_delay_s = attempts, retry_delay_s
        self._crash = crash or (lambda: os.kill(os.getpid(), signal.SIGKILL))

    # -- the three operations --------------------------------------------

    async def create_listing(self, seller: Player, item_id: int, quantity: int, unit_price_copper: int) -> Listing:
        async with self.store.transaction() as tx:
            stored_seller = await tx.player(seller.player_id) or seller
            item = await tx.item(item_id)
            check_listable(stored_seller, item or Item(item_id, str(item_id), True))
            saga = Saga.start(
                states.LIST,
                states.ESCROWING,
                listing_id=await tx.next_listing_id(),
                seller_id=seller.player_id,
                item_id=item_id,
                quantity=quantity,
                unit_price=unit_price_copper,
            )
            await tx.save_saga(saga)
        self._crash_point(saga)
        return await self._listing_outcome(await self.run(saga))

    async def cancel_listing(self, listing_id: int, player_id: int) -> Listing:
        instant, wall = self.clock.now()
        async with self.store.transaction() as tx:
            listing = await tx.lock_listing(listing_id)
            if listing is None:
                raise listing_not_found(listing_id)
            check_cancel(listing, player_id)
            cancelled = replace(listing, status=CANCELLED, updated_at=wall)
            await tx.save_listing(cancelled)
            await tx.add_outbox(events.listing_cancelled(cancelled, instant))
            saga = Saga.start(
                states.CANCEL,
                states.CANCELLED,
                listing_id=listing_id,
                seller_id=player_id,
                item_id=listing.item_id,
                quantity=listing.quantity_remaining,
            )
            await tx.save_saga(saga)
        self._crash_point(saga)
        try:
            await self.run(saga)
        except MonolithUnavailable:
            log.warning("cancel saga %s: escrow return not confirmed yet; will be resumed", saga.saga_id)
        return cancelled

    async def buy(self, buyer: Player, listing_id: int, quantity: int) -> Sale:
        async with self.store.transaction() as tx:
            listing = await tx.lock_listing(listing_id)
            if listing is None:
                raise listing_not_found(listing_id)
            stored_buyer = await tx.player(buyer.player_id) or buyer
            seller = await tx.player(listing.seller_id) or Player(listing.seller_id, "", ACTIVE)
            check_buy(listing, stored_buyer, seller, quantity)
            await tx.save_listing(listing.reserve(quantity))
            saga = Saga.start(
                states.BUY,
                states.RESERVED,
                listing_id=listing_id,
                buyer_id=buyer.player_id,
                seller_id=listing.seller_id,
                item_id=listing.item_id,
                quantity=quantity,
                unit_price=listing.unit_price_copper,
                total=quantity * listing.unit_price_copper,
            )
            await tx.save_saga(saga)
        self._crash_point(saga)
        done = await self.run(saga)
        if done.state == states.COMPENSATED:
            if done.result is None:  # the settlement's outcome was unknown: it was reversed
                raise MonolithUnavailable(f"saga {done.saga_id}: settlement undone, nothing was bought")
            raise _rejection(done)
        sale = await self.store.sale(int(done.data["sale_id"]))
        assert sale is not None
        return sale

    # -- running a saga from any state ----------------------------------

    async def run(self, saga: Saga) -> Saga:
        """Take ``saga`` from its state to a terminal one; raises
        :class:`MonolithUnavailable` when a step got no definitive answer
        and must be resumed later."""
        steps: dict[tuple[str, str], Callable[[Saga], Awaitable[Saga]]] = {
            (states.BUY, states.RESERVED): self._settle,
            (states.BUY, states.SETTLED): self._confirm,
            (states.BUY, states.COMPENSATING): self._compensate,
            (states.LIST, states.ESCROWING): self._escrow_take,
            (states.CANCEL, states.CANCELLED): self._escrow_return,
        }
        while not saga.terminal:
            saga = await steps[(saga.kind, saga.state)](saga)
        return saga

    async def resume_all(self, older_than_s: float = 0.0) -> int:
        """Resume every non-terminal saga (at start-up, then periodically the
        stale ones). Returns how many reached a terminal state."""
        finished = 0
        for saga in await self.store.open_sagas(older_than_s):
            try:
                await self.run(saga)
                finished += 1
            except MonolithUnavailable as exc:
                log.warning("saga %s (%s, %s) not resumed yet: %s", saga.saga_id, saga.kind, saga.state, exc)
        return finished

    # -- steps ------------------------------------------------------------

    async def _settle(self, saga: Saga) -> Saga:
        data = saga.data
        try:
            answer = await self._call(
                lambda: self.monolith.settle(
                    key=saga.key("settle"),
                    buyer_id=data["buyer_id"],
                    seller_id=data["seller_id"],
                    item_id=data["item_id"],
                    quantity=data["quantity"],
                    total_copper=data["total"],
                )
            )
        except MonolithUnavailable as exc:
            log.warning("saga %s: settlement outcome unknown (%s): reversing", saga.saga_id, exc)
            return await self._transition(saga, lambda tx: _to(saga.to(states.COMPENSATING, reverse=True)))
        if answer.ok:
            fee = int(answer.body["fee_copper"])
            return await self._transition(saga, lambda tx: _to(saga.to(states.SETTLED, fee=fee)))
        result = {"status": answer.status, "body": answer.body}
        return await self._transition(saga, lambda tx: _to(saga.to(states.COMPENSATING, reverse=False, result=result)))

    async def _compensate(self, saga: Saga) -> Saga:
        """Undo the settlement if its outcome is unknown, then give the
        reservation back: to the listing if it is still open or filled, to
        the seller's inventory (escrow return) if the seller cancelled it
        meanwhile (the cancellation returned only what was not reserved)."""
        data = saga.data
        if data.get("reverse"):
            await self._call(lambda: self.monolith.reverse(key=saga.key("settle")))
        current = await self.store.listing(data["listing_id"])
        if current is not None and current.status in (CANCELLED, EXPIRED):
            await self._return_to_seller(saga)
        _, wall = self.clock.now()

        async def release(tx: MarketTx) -> Saga:
            listing = await tx.lock_listing(data["listing_id"])
            if listing is None:
                return saga.to(states.COMPENSATED)
            if listing.status in (CANCELLED, EXPIRED):
                if current is None or current.status not in (CANCELLED, EXPIRED):
                    return saga  # cancelled since we looked: return the items first (next turn)
                returned = listing.quantity_remaining + data["quantity"]
                await tx.save_listing(replace(listing, quantity_remaining=returned, updated_at=wall))
            else:
                await tx.save_listing(listing.release(data["quantity"]))
            return saga.to(states.COMPENSATED)

        return await self._transition(saga, release)

    async def _return_to_seller(self, saga: Saga) -> None:
        data = saga.data
        answer = await self._call(
            lambda: self.monolith.escrow(
                key=saga.key("release-return"),
                player_id=data["seller_id"],
                item_id=data["item_id"],
                quantity=data["quantity"],
                direction="return",
            )
        )
        if not answer.ok:
            log.error(
                "buy saga %s: the monolith refused the escrow return: %s %s", saga.saga_id, answer.status, answer.body
            )

    async def _confirm(self, saga: Saga) -> Saga:
        instant, wall = self.clock.now()
        data = saga.data

        async def confirm(tx: MarketTx) -> Saga:
            listing = await tx.lock_listing(data["listing_id"])
            assert listing is not None, "a reserved listing is never deleted by the market"
            sale = Sale(
                sale_id=await tx.next_sale_id(),
                listing_id=listing.listing_id,
                buyer_id=data["buyer_id"],
                seller_id=data["seller_id"],
                item_id=data["item_id"],
                quantity=data["quantity"],
                unit_price_copper=data["unit_price"],
                total_copper=data["total"],
                fee_copper=data["fee"],
                sold_at=wall,
            )
            await tx.insert_sale(sale)
            # Last updated when the sale is recorded, as in the monolith's one transaction and
            # as the ListingAmended below tells sync-back (the reservation's time would differ).
            await tx.save_listing(replace(listing, updated_at=wall))
            # The events say what is *settled*: the row's remaining plus what other buys
            # still hold (reserved, not sold). Not quantity minus the sales: a legacy
            # listing's qty_rem is the monolith's own figure, whatever its sales sum to.
            # A listing cancelled meanwhile keeps its remaining (the quantity returned) and status.
            if listing.status in (CANCELLED, EXPIRED):
                remaining = listing.quantity_remaining
            else:
                held = await tx.reserved_in_flight(listing.listing_id, besides=saga.saga_id)
                remaining = listing.quantity_remaining + held
            await tx.add_outbox(events.sale_recorded(listing, sale, remaining, instant))
            return saga.to(states.DONE, sale_id=sale.sale_id)

        return await self._transition(saga, confirm)

    async def _escrow_take(self, saga: Saga) -> Saga:
        data = saga.data
        answer = await self._call(
            lambda: self.monolith.escrow(
                key=saga.key("escrow"),
                player_id=data["seller_id"],
                item_id=data["item_id"],
                quantity=data["quantity"],
                direction="take",
            )
        )
        if not answer.ok:
            result = {"status": answer.status, "body": answer.body}
            return await self._transition(saga, lambda tx: _to(saga.to(states.REFUSED, result=result)))
        instant, wall = self.clock.now()

        async def create(tx: MarketTx) -> Saga:
            listing = Listing(
                listing_id=data["listing_id"],
                seller_id=data["seller_id"],
                item_id=data["item_id"],
                quantity=data["quantity"],
                quantity_remaining=data["quantity"],
                unit_price_copper=data["unit_price"],
                status="O",
                created_at=wall,
                updated_at=wall,
            )
            await tx.save_listing(listing)
            await tx.add_outbox(events.listing_opened(listing, instant))
            return saga.to(states.DONE)

        return await self._transition(saga, create)

    async def _escrow_return(self, saga: Saga) -> Saga:
        data = saga.data
        answer = await self._call(
            lambda: self.monolith.escrow(
                key=saga.key("escrow-return"),
                player_id=data["seller_id"],
                item_id=data["item_id"],
                quantity=data["quantity"],
                direction="return",
            )
        )
        if not answer.ok:
            log.error(
                "cancel saga %s: the monolith refused the escrow return: %s %s",
                saga.saga_id,
                answer.status,
                answer.body,
            )
        result = {"status": answer.status, "body": answer.body}
        return await self._transition(saga, lambda tx: _to(saga.to(states.DONE, result=result)))

    # -- plumbing -------------------------------------------------------------

    async def _call(self, call: Callable[[], Awaitable[Answer]]) -> Answer:
        """A call with the same key, a few times, until a definitive answer."""
        for attempt in range(1, self.attempts + 1):
            try:
                return await call()
            except MonolithUnavailable:
                if attempt == self.attempts:
                    raise
                await asyncio.sleep(self.retry_delay_s * attempt)
        raise AssertionError("unreachable")

    async def _transition(self, saga: Saga, change: Callable[[MarketTx], Awaitable[Saga]]) -> Saga:
        """Apply ``change`` if the saga is still in the state this process
        saw; otherwise another runner moved it: continue from where it is."""
        async with self.store.transaction() as tx:
            current = await tx.lock_saga(saga.saga_id)
            if current is None or current.state != saga.state:
                return current or saga.to(states.DONE)
            new = await change(tx)
            await tx.save_saga(new)
        self._crash_point(new)
        return new

    def _crash_point(self, saga: Saga) -> None:
        if self.crash_after is not None and saga.state == self.crash_after:
            log.warning("STRANGLER_MARKET_CRASH_AFTER=%s: killing the process (saga %s)", saga.state, saga.saga_id)
            self._crash()

    async def _listing_outcome(self, saga: Saga) -> Listing:
        if saga.state == states.REFUSED:
            raise _rejection(saga)
        listing = await self.store.listing(int(saga.data["listing_id"]))
        assert listing is not None
        return listing


async def _to(saga: Saga) -> Saga:
    return saga


def _rejection(saga: Saga) -> Rejected:
    result = saga.result or {}
    return Rejected(int(result.get("status", 503)), result.get("body"))


__all__ = ["MarketWrites", "MonolithUnavailable", "Refusal", "Rejected"]
