"""A test-only second version of ``SaleRecorded``, and a codec that knows it.

``SaleRecordedV2`` sits beside v1 under its own class name and keeps the
contract name through the class keywords. It drops the two amounts v1
carried that follow from the others (``total`` = quantity x unit price,
``seller_proceeds`` = total - fee) in favour of the fee rate the market
applied; :func:`sale_v1_to_v2` is the upcaster's step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from new_services.contracts.codec import Codec
from new_services.contracts.events import EVENT_TYPES, DomainEvent, SaleRecorded
from new_services.contracts.upcasting import Upcaster
from new_services.contracts.values import Money


@dataclass(frozen=True)
class SaleRecordedV2(DomainEvent, name="SaleRecorded", version=2):
    context: ClassVar[str] = "market"
    aggregate: ClassVar[str] = "sales"
    sale_id: int
    listing_id: int
    buyer_id: int
    seller_id: int
    item_id: int
    quantity: int
    unit_price: Money
    fee: Money
    fee_rate: str  # e.g. "0.0500": a decimal string, like every exact number on the wire
    sold_at: datetime

    def aggregate_id(self) -> int:
        return self.sale_id


def sale_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    total, fee = Decimal(data["total"]["amount"]), Decimal(data["fee"]["amount"])
    rest = {k: v for k, v in data.items() if k not in ("total", "seller_proceeds")}
    return {**rest, "fee_rate": format((fee / total).quantize(Decimal("0.0001")), "f")}


#: This build's events plus v2, and the v1 -> v2 step.
V2 = Codec([*EVENT_TYPES.values(), SaleRecordedV2], [Upcaster(SaleRecorded, SaleRecordedV2, sale_v1_to_v2)])
