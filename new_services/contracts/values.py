"""Value objects and enums shared by every domain event.

Why here: the ACL produces events with these types and the new services
consume them; both import this module and nothing else (standard library
only), so the contract has exactly one definition.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

#: One gold coin is 10,000 copper coins (100 copper = 1 silver, 100 silver = 1 gold).
COPPER_PER_GOLD = 10_000
#: The in-game currency, quoted in gold with 4 decimals so a copper coin is exact.
GOLD = "GOLD"


@dataclass(frozen=True)
class Money:
    """An exact amount of money: ``amount`` is a Decimal in ``currency`` units.

    On the wire it is ``{"amount": "12.3456", "currency": "GOLD"}``: a
    decimal string (never a float) so 1 copper = ``"0.0001"`` survives every
    JSON parser.
    """

    amount: Decimal
    currency: str = GOLD

    @classmethod
    def from_copper(cls, copper: int) -> Money:
        """Exact: always 4 decimal places (1 copper = ``0.0001`` gold)."""
        return cls(Decimal(copper).scaleb(-4), GOLD)

    def to_copper(self) -> int:
        if self.currency != GOLD:
            raise ValueError(f"not a {GOLD} amount: {self.currency}")
        return int(self.amount.scaleb(4))


class PlayerStatus(str, enum.Enum):
    ACTIVE = "active"
    BANNED = "banned"
    DELETED = "deleted"


class ItemCategory(str, enum.Enum):
    WEAPON = "weapon"
    ARMOUR = "armour"
    CONSUMABLE = "consumable"
    MATERIAL = "material"
    MISC = "misc"


class Rarity(str, enum.Enum):
    COMMON = "common"
    UNCOMMON = "uncommon"
    RARE = "rare"
    EPIC = "epic"
    LEGENDARY = "legendary"


class ListingStatus(str, enum.Enum):
    OPEN = "open"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
