"""Fakes of the market's ports (they subclass them): an in-memory store and
an in-memory monolith that keeps the ``/_internal/`` contract of
docs/market-write-side.md (idempotent by key, refusals recorded too,
reverse with tombstones). Shared by the unit and integration tests."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from new_services.market.domain.model import FEE_PERCENT, Item, Listing, Player, Sale
from new_services.market.domain.saga import TERMINAL, Saga
from new_services.market.service_layer.ports import (
    Answer,
    MarketStore,
    MarketTx,
    Monolith,
    MonolithUnavailable,
    OutboxMessage,
)


def format_copper(copper: int) -> str:
    g, rest = divmod(copper, 10_000)
    s, c = divmod(rest, 100)
    return f"{g}g {s}s {c}c" if g else (f"{s}s {c}c" if s else f"{c}c")


class FakeMonolith(Monolith):
    def __init__(self) -> None:
        self.balances: dict[int, int] = {}
        self.inventory: dict[tuple[int, int], int] = {}
        self.status: dict[int, str] = {}
        self.names: dict[int, str] = {}
        self.answers: dict[str, Answer] = {}
        self.applied: dict[str, dict[str, Any]] = {}
        self.reversed: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.unavailable: dict[str, int] = {}  # method -> how many next calls fail before reaching it
        self.lose_answers: dict[str, int] = {}  # method -> how many next calls apply, then fail
        self.settle_gate: asyncio.Event | None = None

    async def reached(self, calls: int, *, timeout: float = 10.0) -> None:
        """Until ``calls`` calls have reached the monolith (a request parked
        at ``settle_gate`` counts); ``TimeoutError`` after ``timeout``."""

        async def counted() -> None:
            while len(self.calls) < calls:
                await asyncio.sleep(0)  # let the other tasks run

        await asyncio.wait_for(counted(), timeout)

    def player(self, player_id: int, name: str, *, balance: int = 0, status: str = "A") -> None:
        self.balances[player_id], self.status[player_id], self.names[player_id] = balance, status, name

    def _maybe_fail(self, method: str) -> None:
        if self.unavailable.get(method, 0) > 0:
            self.unavailable[method] -= 1
            raise MonolithUnavailable(f"{method}: connection refused (fake)")

    def _maybe_lose(self, method: str, answer: Answer) -> Answer:
        if self.lose_answers.get(method, 0) > 0:
            self.lose_answers[method] -= 1
            raise MonolithUnavailable(f"{method}: read timeout after apply (fake)")
        return answer

    def _banned(self, player_id: int, role: str) -> Answer | None:
        if self.status.get(player_id, "A") != "A":
            label = {"B": "banned", "D": "deleted"}[self.status[player_id]]
            body = {
                "detail": f"The {role} {self.names.get(player_id, '?')!r} is {label} and cannot trade.",
                "code": "player_banned",
                "extra": {"player_id": player_id},
            }
            return Answer(403, body)
        return None

    async def settle(
        self, *, key: str, buyer_id: int, seller_id: int, item_id: int, quantity: int, total_copper: int
    ) -> Answer:
        self.calls.append(("settle", key))
        if self.settle_gate is not None:
            await self.settle_gate.wait()
        self._maybe_fail("settle")
        if key in self.answers:
            return self._maybe_lose("settle", self.answers[key])
        if key in self.reversed:
            answer = Answer(409, {"detail": "Settlement reversed.", "code": "settlement_reversed", "extra": {}})
        else:
            answer = (
                self._banned(buyer_id, "buyer")
                or self._banned(seller_id, "seller")
                or self._apply(key, buyer_id, seller_id, item_id, quantity, total_copper)
            )
        self.answers[key] = answer
        return self._maybe_lose("settle", answer)

    def _apply(self, key: str, buyer: int, seller: int, item: int, quantity: int, total: int) -> Answer:
        balance = self.balances.get(buyer, 0)
        if balance < total:
            return Answer(
                409,
                {
                    "detail": f"Not enough gold: {format_copper(total)} needed, {format_copper(balance)} available.",
                    "code": "insufficient_funds",
                    "extra": {"required_cp": total, "balance_cp": balance},
                },
            )
        fee = total * FEE_PERCENT // 100
        self.balances[buyer] = balance - total
        self.balances[seller] = self.balances.get(seller, 0) + total - fee
        self.inventory[(buyer, item)] = self.inventory.get((buyer, item), 0) + quantity
        self.applied[key] = {"buyer": buyer, "seller": seller, "item": item, "quantity": quantity, "total": total}
        return Answer(200, {"key": key, "fee_copper": fee, "seller_proceeds_copper": total - fee, "status": "applied"})

    async def reverse(self, *, key: str) -> Answer:
        self.calls.append(("reverse", key))
        self._maybe_fail("reverse")
        if key not in self.reversed:
            self.reversed.add(key)
            done = self.applied.get(key)
            if done is not None:
                fee = done["total"] * FEE_PERCENT // 100
                self.balances[done["buyer"]] += done["total"]
                self.balances[done["seller"]] -= done["total"] - fee
                self.inventory[(done["buyer"], done["item"])] -= done["quantity"]
        return Answer(200, {"key": key, "status": "reversed"})

    async def escrow(self, *, key: str, player_id: int, item_id: int, quantity: int, direction: str) -> Answer:
        self.calls.append((f"escrow-{direction}", key))
        self._maybe_fail("escrow")
        if key in self.answers:
            return self._maybe_lose("escrow", self.answers[key])
        held = self.inventory.get((player_id, item_id), 0)
        answer: Answer
        if direction == "take" and (banned := self._banned(player_id, "seller")) is not None:
            answer = banned
        elif direction == "take" and held < quantity:
            answer = Answer(
                409,
                {
                    "detail": f"Not enough items: {quantity} needed, {held} held.",
                    "code": "insufficient_inventory",
                    "extra": {"required_qty": quantity, "held_qty": held, "item_id": item_id},
                },
            )
        else:
            self.inventory[(player_id, item_id)] = held + (quantity if direction == "return" else -quantity)
            answer = Answer(200, {"key": key, "status": "applied"})
        self.answers[key] = answer
        return self._maybe_lose("escrow", answer)


class _Tables:
    def __init__(self) -> None:
        self.listings: dict[int, Listing] = {}
        self.sales: dict[int, Sale] = {}
        self.players: dict[int, Player] = {}
        self.items: dict[int, Item] = {}
        self.sagas: dict[str, Saga] = {}
        self.outbox: list[OutboxMessage] = []
        self.listing_seq = 0
        self.sale_seq = 0


class FakeTx(MarketTx):
    def __init__(self, tables: _Tables) -> None:
        self.t = tables

    async def lock_listing(self, listing_id: int) -> Listing | None:
        return self.t.listings.get(listing_id)

    async def player(self, player_id: int) -> Player | None:
        return self.t.players.get(player_id)

    async def item(self, item_id: int) -> Item | None:
        return self.t.items.get(item_id)

    async def save_listing(self, listing: Listing) -> None:
        self.t.listings[listing.listing_id] = listing

    async def next_listing_id(self) -> int:
        self.t.listing_seq += 1
        return self.t.listing_seq

    async def next_sale_id(self) -> int:
        self.t.sale_seq += 1
        return self.t.sale_seq

    async def insert_sale(self, sale: Sale) -> None:
        assert sale.sale_id not in self.t.sales
        self.t.sales[sale.sale_id] = sale

    async def reserved_in_flight(self, listing_id: int, *, besides: str) -> int:
        return sum(
            int(saga.data["quantity"])
            for saga in self.t.sagas.values()
            if saga.kind == "buy"
            and not saga.terminal
            and int(saga.data["listing_id"]) == listing_id
            and saga.saga_id != besides
        )

    async def lock_saga(self, saga_id: str) -> Saga | None:
        return self.t.sagas.get(saga_id)

    async def save_saga(self, saga: Saga) -> None:
        self.t.sagas[saga.saga_id] = saga

    async def add_outbox(self, messages: Sequence[OutboxMessage]) -> None:
        self.t.outbox.extend(messages)


class FakeStore(MarketStore):
    """One transaction at a time (a global lock stands for the row locks);
    a failed block leaves the tables as they were."""

    def __init__(self) -> None:
        self.tables = _Tables()
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MarketTx]:
        async with self._lock:
            before = copy.deepcopy(self.tables)
            try:
                yield FakeTx(self.tables)
            except BaseException:
                self.tables = before
                raise

    async def open_sagas(self, older_than_s: float = 0.0) -> list[Saga]:
        return [s for s in self.tables.sagas.values() if s.state not in TERMINAL]

    async def sale(self, sale_id: int) -> Sale | None:
        return self.tables.sales.get(sale_id)

    async def listing(self, listing_id: int) -> Listing | None:
        return self.tables.listings.get(listing_id)
