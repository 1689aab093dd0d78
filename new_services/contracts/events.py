"""The domain events the anti-corruption layer publishes.

Past tense, frozen, versioned: a change to a payload is a new class next to
the old one, never an edit. The new class keeps the contract name and takes
the next version through class keywords, e.g.
``class SaleRecordedV2(_SaleEvent, name="SaleRecorded", version=2)``; an
upcaster (``upcasting.py``) turns stored payloads of the old version into it.

Each event knows its bounded context (which topic carries it, see
:func:`topic_for`) and its aggregate (``subject``; also the Kafka key, so
per-aggregate order holds). The wire format is the codec's (``codec.py``);
the JSON Schemas in ``schemas/`` are generated from these classes
(``python -m new_services.contracts.schema``) and checked by a test, so the
classes are the single source of truth. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from new_services.contracts.values import ItemCategory, ListingStatus, Money, PlayerStatus, Rarity

__all__ = [
    "EVENT_TYPES",
    "TOPIC_VERSIONS",
    "DomainEvent",
    "InventoryAdjusted",
    "ItemAttributes",
    "ItemCatalogued",
    "ItemDeactivated",
    "ItemReactivated",
    "ItemRemoved",
    "ItemRevised",
    "ListingAmended",
    "ListingCancelled",
    "ListingExpired",
    "ListingFilled",
    "ListingOpened",
    "ListingRemoved",
    "PlayerBanned",
    "PlayerDeleted",
    "PlayerProfile",
    "PlayerProfileChanged",
    "PlayerRegistered",
    "PlayerReinstated",
    "SaleCorrected",
    "SaleRecorded",
    "SaleVoided",
    "WalletClosed",
    "WalletCredited",
    "WalletDebited",
    "WalletOpened",
    "topic_for",
]

#: The version of each bounded context's topic ``smp.<context>.v<N>``. It is
#: not the events' version: v2 events travel on the same topic as v1 ones
#: (consumers upcast what they read). A topic's version changes only for a
#: break no upcaster can absorb (another key or partitioning, another
#: envelope), and then the new topic is filled beside the old one.
TOPIC_VERSIONS: dict[str, int] = {"players": 1, "catalog": 1, "market": 1}


def topic_for(context: str) -> str:
    """``smp.market.v1``: the topic carrying the events of ``context``."""
    return f"smp.{context}.v{TOPIC_VERSIONS[context]}"


@dataclass(frozen=True)
class DomainEvent:
    """Base of every event: class-level contract facts plus the payload fields.

    ``event_name`` and ``version`` come from the class keywords ``name`` and
    ``version`` (defaults: the class name and 1), so two versions of one
    event can be two classes in the same module."""

    context: ClassVar[str] = ""
    aggregate: ClassVar[str] = ""
    event_name: ClassVar[str] = ""
    version: ClassVar[int] = 1

    def __init_subclass__(cls, /, name: str | None = None, version: int = 1, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.event_name = name or cls.__name__
        cls.version = version

    @classmethod
    def type_name(cls) -> str:
        """``SaleRecorded.v1``: the contract name (and schema file stem)."""
        return f"{cls.event_name}.v{cls.version}"

    @classmethod
    def cloudevent_type(cls) -> str:
        """``smp.market.SaleRecorded.v1``: the CloudEvents ``type``."""
        return f"smp.{cls.context}.{cls.type_name()}"

    @classmethod
    def topic(cls) -> str:
        return topic_for(cls.context)

    def aggregate_id(self) -> int:
        raise NotImplementedError

    def subject(self) -> str:
        """``sales/42``: the aggregate this event belongs to."""
        return f"{self.aggregate}/{self.aggregate_id()}"


# -- value types nested in payloads -------------------------------------------


@dataclass(frozen=True)
class PlayerProfile:
    """The player's free-form profile, parsed and validated."""

    guild: str | None = None
    level: int | None = None
    language: str | None = None
    other: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemAttributes:
    """The item's free-form attributes, parsed and validated."""

    level_required: int | None = None
    stack_size: int | None = None
    description: str | None = None
    other: dict[str, Any] = field(default_factory=dict)


# -- players context: players, wallets, inventories ---------------------------


@dataclass(frozen=True)
class _PlayerEvent(DomainEvent):
    context: ClassVar[str] = "players"
    aggregate: ClassVar[str] = "players"
    player_id: int

    def aggregate_id(self) -> int:
        return self.player_id


@dataclass(frozen=True)
class PlayerRegistered(_PlayerEvent):
    name: str
    email: str | None
    status: PlayerStatus
    registered_at: datetime
    profile: PlayerProfile


@dataclass(frozen=True)
class PlayerProfileChanged(_PlayerEvent):
    name: str
    email: str | None
    profile: PlayerProfile


@dataclass(frozen=True)
class PlayerBanned(_PlayerEvent):
    previous_status: PlayerStatus | None


@dataclass(frozen=True)
class PlayerReinstated(_PlayerEvent):
    previous_status: PlayerStatus | None


@dataclass(frozen=True)
class PlayerDeleted(_PlayerEvent):
    """Soft delete (status set to deleted) or, if ``hard``, the row removed."""

    hard: bool


@dataclass(frozen=True)
class _WalletEvent(DomainEvent):
    """A player's gold wallet (one per player, so it is keyed by player)."""

    context: ClassVar[str] = "players"
    aggregate: ClassVar[str] = "wallets"
    player_id: int

    def aggregate_id(self) -> int:
        return self.player_id


@dataclass(frozen=True)
class WalletOpened(_WalletEvent):
    """A wallet seen for the first time (created, or read by a snapshot)."""

    balance: Money
    as_of: datetime


@dataclass(frozen=True)
class WalletCredited(_WalletEvent):
    amount: Money
    balance: Money
    occurred_at: datetime


@dataclass(frozen=True)
class WalletDebited(_WalletEvent):
    amount: Money
    balance: Money
    occurred_at: datetime


@dataclass(frozen=True)
class WalletClosed(_WalletEvent):
    final_balance: Money


@dataclass(frozen=True)
class InventoryAdjusted(DomainEvent):
    """A player's holding of one item changed. ``previous_quantity`` and
    ``delta`` are null when unknown (the slot was read by a snapshot)."""

    context: ClassVar[str] = "players"
    aggregate: ClassVar[str] = "inventories"
    player_id: int
    item_id: int
    quantity: int
    previous_quantity: int | None
    delta: int | None

    def aggregate_id(self) -> int:
        return self.player_id


# -- catalog context -------------------------------------------------------


@dataclass(frozen=True)
class _ItemEvent(DomainEvent):
    context: ClassVar[str] = "catalog"
    aggregate: ClassVar[str] = "items"
    item_id: int

    def aggregate_id(self) -> int:
        return self.item_id


@dataclass(frozen=True)
class ItemCatalogued(_ItemEvent):
    sku: str
    name: str
    category: ItemCategory
    rarity: Rarity
    listable: bool
    catalogued_at: datetime
    attributes: ItemAttributes


@dataclass(frozen=True)
class ItemRevised(_ItemEvent):
    sku: str
    name: str
    category: ItemCategory
    rarity: Rarity
    attributes: ItemAttributes


@dataclass(frozen=True)
class ItemDeactivated(_ItemEvent):
    """The item can no longer be listed."""


@dataclass(frozen=True)
class ItemReactivated(_ItemEvent):
    """The item can be listed again."""


@dataclass(frozen=True)
class ItemRemoved(_ItemEvent):
    """The row was deleted (the monolith never does this; an operator did)."""


# -- market context --------------------------------------------------------


@dataclass(frozen=True)
class _ListingEvent(DomainEvent):
    context: ClassVar[str] = "market"
    aggregate: ClassVar[str] = "listings"
    listing_id: int

    def aggregate_id(self) -> int:
        return self.listing_id


@dataclass(frozen=True)
class ListingOpened(_ListingEvent):
    seller_id: int
    item_id: int
    quantity: int
    quantity_remaining: int
    unit_price: Money
    opened_at: datetime


@dataclass(frozen=True)
class ListingAmended(_ListingEvent):
    """Remaining quantity or price changed while the status did not."""

    status: ListingStatus
    quantity_remaining: int
    unit_price: Money
    amended_at: datetime


@dataclass(frozen=True)
class ListingFilled(_ListingEvent):
    closed_at: datetime


@dataclass(frozen=True)
class ListingCancelled(_ListingEvent):
    """Cancelled by the seller; ``quantity_returned`` goes back to inventory."""

    quantity_returned: int
    closed_at: datetime


@dataclass(frozen=True)
class ListingExpired(_ListingEvent):
    quantity_returned: int
    closed_at: datetime


@dataclass(frozen=True)
class ListingRemoved(_ListingEvent):
    """The row was deleted (an operator, not the monolith)."""


@dataclass(frozen=True)
class _SaleEvent(DomainEvent):
    context: ClassVar[str] = "market"
    aggregate: ClassVar[str] = "sales"
    sale_id: int

    def aggregate_id(self) -> int:
        return self.sale_id


@dataclass(frozen=True)
class SaleRecorded(_SaleEvent):
    """A trade: ``total`` = quantity x unit price; the seller gets
    ``seller_proceeds`` = total - fee (the house's market tax)."""

    listing_id: int
    buyer_id: int
    seller_id: int
    item_id: int
    quantity: int
    unit_price: Money
    total: Money
    fee: Money
    seller_proceeds: Money
    sold_at: datetime


@dataclass(frozen=True)
class SaleCorrected(_SaleEvent):
    """A recorded sale was edited in place (sales are meant to be insert-only)."""

    listing_id: int
    buyer_id: int
    seller_id: int
    item_id: int
    quantity: int
    unit_price: Money
    total: Money
    fee: Money
    seller_proceeds: Money
    sold_at: datetime


@dataclass(frozen=True)
class SaleVoided(_SaleEvent):
    """A recorded sale was deleted."""

    listing_id: int | None


EVENT_TYPES: dict[str, type[DomainEvent]] = {
    cls.type_name(): cls
    for cls in (
        PlayerRegistered,
        PlayerProfileChanged,
        PlayerBanned,
        PlayerReinstated,
        PlayerDeleted,
        WalletOpened,
        WalletCredited,
        WalletDebited,
        WalletClosed,
        InventoryAdjusted,
        ItemCatalogued,
        ItemRevised,
        ItemDeactivated,
        ItemReactivated,
        ItemRemoved,
        ListingOpened,
        ListingAmended,
        ListingFilled,
        ListingCancelled,
        ListingExpired,
        ListingRemoved,
        SaleRecorded,
        SaleCorrected,
        SaleVoided,
    )
}
