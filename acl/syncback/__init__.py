"""Sync-back: the market service's domain events applied back to the
monolith's tables, so the monolith keeps working (reads, admin, and taking
the writes back) after the market's write side moved.

- ``reverse``: pure reverse translators, domain event -> legacy row writes
  (the only place besides ``acl/translators/`` that knows legacy columns).
- ``store``: the legacy database side: one transaction per batch, marked
  with a logical decoding message, rows, Kafka offsets, id sequences.
- ``loop``: ``smp.market.v1`` -> the store, bad events to ``acl.dlq``;
  ``python -m acl.syncback``.
- ``tagging``: how the loop is kept from closing: the relay tags every
  change of a marked transaction with ``strangler-origin: syncback`` and
  the ACL skips tagged records, so a row written here never becomes a new
  domain event.

This module holds the names both sides share and imports nothing heavy
(the relay imports it).
"""

from __future__ import annotations

from acl.debezium_config import SYNCBACK_MESSAGE_PREFIX

#: The CloudEvents ``source`` of the market service's outbox: the only
#: events sync-back applies (the ACL's own, born from legacy rows, are
#: already in the legacy tables).
MARKET_SOURCE = "/strangler/market"
#: Kafka header the relay puts on every change record of a sync-back
#: transaction.
ORIGIN_HEADER = "strangler-origin"
ORIGIN_SYNCBACK = b"syncback"
SYNCBACK_HEADERS: tuple[tuple[str, bytes], ...] = ((ORIGIN_HEADER, ORIGIN_SYNCBACK),)

__all__ = ["MARKET_SOURCE", "ORIGIN_HEADER", "ORIGIN_SYNCBACK", "SYNCBACK_HEADERS", "SYNCBACK_MESSAGE_PREFIX"]
