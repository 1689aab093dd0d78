"""The events of a market write, as outbox messages: the contracts' codec,
structured CloudEvents, source ``/strangler/market``, keyed by subject as
the ACL keys them (so an aggregate's events share a partition whoever wrote
them)."""

from __future__ import annotations

import datetime as dt
import uuid

from new_services.contracts.codec import CONTRACTS
from new_services.contracts.events import (
    DomainEvent,
    ListingAmended,
    ListingCancelled,
    ListingFilled,
    ListingOpened,
    SaleRecorded,
)
from new_services.contracts.values import ListingStatus, Money
from new_services.market.domain.model import Listing, Sale
from new_services.market.service_layer.ports import OutboxMessage
from new_services.market.service_layer.projection import SOURCE


def message(event: DomainEvent, at: dt.datetime) -> OutboxMessage:
    subject = event.subject()
    value = CONTRACTS.encode(event, id=str(uuid.uuid4()), source=SOURCE, time=at, subject=subject)
    return OutboxMessage(event.topic(), subject.encode(), value)


def listing_opened(listing: Listing, at: dt.datetime) -> list[OutboxMessage]:
    event = ListingOpened(
        listing_id=listing.listing_id,
        seller_id=listing.seller_id,
        item_id=listing.item_id,
        quantity=listing.quantity,
        quantity_remaining=listing.quantity_remaining,
        unit_price=Money.from_copper(listing.unit_price_copper),
        opened_at=at,
    )
    return [message(event, at)]


def listing_cancelled(listing: Listing, at: dt.datetime) -> list[OutboxMessage]:
    event = ListingCancelled(listing_id=listing.listing_id, quantity_returned=listing.quantity_remaining, closed_at=at)
    return [message(event, at)]


def sale_recorded(listing: Listing, sale: Sale, remaining: int, at: dt.datetime) -> list[OutboxMessage]:
    """What the ACL publishes for the monolith's own trade: the listing
    amended (and filled when nothing remains), then the sale."""
    closed = {"C": ListingStatus.CANCELLED, "X": ListingStatus.EXPIRED}.get(listing.status)
    filled = closed is None and remaining == 0
    status = closed or (ListingStatus.FILLED if filled else ListingStatus.OPEN)
    events: list[DomainEvent] = [
        ListingAmended(
            listing_id=listing.listing_id,
            status=status,
            quantity_remaining=remaining,
            unit_price=Money.from_copper(listing.unit_price_copper),
            amended_at=at,
        )
    ]
    if filled:
        events.append(ListingFilled(listing_id=listing.listing_id, closed_at=at))
    events.append(
        SaleRecorded(
            sale_id=sale.sale_id,
            listing_id=sale.listing_id,
            buyer_id=sale.buyer_id,
            seller_id=sale.seller_id,
            item_id=sale.item_id,
            quantity=sale.quantity,
            unit_price=Money.from_copper(sale.unit_price_copper),
            total=Money.from_copper(sale.total_copper),
            fee=Money.from_copper(sale.fee_copper),
            seller_proceeds=Money.from_copper(sale.total_copper - sale.fee_copper),
            sold_at=at,
        )
    )
    return [message(event, at) for event in events]
