"""The ports of the write side: the store (one transaction at a time, rows
locked as the monolith locks them) and the monolith's internal API. The
adapters are ``adapters/store.py`` (psycopg) and ``adapters/monolith.py``
(httpx); unit tests subclass these with in-memory fakes."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from new_services.market.domain.model import Item, Listing, Player, Sale
from new_services.market.domain.saga import Saga


@dataclass(frozen=True)
class OutboxMessage:
    topic: str
    key: bytes
    value: bytes


class MarketTx(abc.ABC):
    """One open transaction of the store."""

    @abc.abstractmethod
    async def lock_listing(self, listing_id: int) -> Listing | None:
        """The listing, its row locked until the transaction ends."""

    @abc.abstractmethod
    async def player(self, player_id: int) -> Player | None: ...

    @abc.abstractmethod
    async def item(self, item_id: int) -> Item | None: ...

    @abc.abstractmethod
    async def save_listing(self, listing: Listing) -> None:
        """Insert or update the listing."""

    @abc.abstractmethod
    async def next_listing_id(self) -> int: ...

    @abc.abstractmethod
    async def next_sale_id(self) -> int: ...

    @abc.abstractmethod
    async def insert_sale(self, sale: Sale) -> None: ...

    @abc.abstractmethod
    async def reserved_in_flight(self, listing_id: int, *, besides: str) -> int:
        """Units of the listing held by buy sagas not finished yet, other than
        ``besides``: reserved in the row, not sold in the events."""

    @abc.abstractmethod
    async def lock_saga(self, saga_id: str) -> Saga | None: ...

    @abc.abstractmethod
    async def save_saga(self, saga: Saga) -> None:
        """Insert or update the saga."""

    @abc.abstractmethod
    async def add_outbox(self, messages: Sequence[OutboxMessage]) -> None:
        """Append to the outbox, in order."""


class MarketStore(abc.ABC):
    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[MarketTx]:
        """Commits when the block ends normally, rolls back on an exception."""

    @abc.abstractmethod
    async def open_sagas(self, older_than_s: float = 0.0) -> list[Saga]:
        """Sagas not in a terminal state, not updated for ``older_than_s``."""

    @abc.abstractmethod
    async def sale(self, sale_id: int) -> Sale | None: ...

    @abc.abstractmethod
    async def listing(self, listing_id: int) -> Listing | None: ...


@dataclass(frozen=True)
class Answer:
    """The monolith's definitive answer to an internal call."""

    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class MonolithUnavailable(RuntimeError):
    """No definitive answer (connection error, timeout, 5xx): the step's
    outcome is unknown and must be repeated with the same key, or undone."""


class Monolith(abc.ABC):
    """The monolith's ``/_internal/`` API (docs/market-write-side.md)."""

    @abc.abstractmethod
    async def settle(
        self, *, key: str, buyer_id: int, seller_id: int, item_id: int, quantity: int, total_copper: int
    ) -> Answer: ...

    @abc.abstractmethod
    async def reverse(self, *, key: str) -> Answer: ...

    @abc.abstractmethod
    async def escrow(self, *, key: str, player_id: int, item_id: int, quantity: int, direction: str) -> Answer: ...
