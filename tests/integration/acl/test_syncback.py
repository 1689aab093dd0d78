"""Sync-back on the real pipeline: PostgreSQL, the embedded broker, the
relay (real Debezium), the ACL and ``python -m acl.syncback`` as child
processes. The market's events become legacy rows in legacy form; those
rows never come back as domain events (while a plain legacy write in the
same period does); a redelivered event applies once; the position survives
a restart; a bad event is dead-lettered and the next one applies."""

from __future__ import annotations

import gc
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from acl_stack_helpers import EventTail, Stack

from acl.dlq import read_dead_letters
from acl.kafka_io import make_producer
from acl.syncback import MARKET_SOURCE
from acl.topics import LEGACY_TOPICS, existing_topics
from local_stack.processes import wait_until
from new_services.contracts.codec import CONTRACTS, KAFKA_HEADERS
from new_services.contracts.events import (
    DomainEvent,
    ListingAmended,
    ListingCancelled,
    ListingOpened,
    SaleRecorded,
)
from new_services.contracts.values import ListingStatus, Money

MARKET = "smp.market.v1"
T0 = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)  # 12:00 in Paris


class Market:
    """Publishes events the way the market's outbox does (source /strangler/market)."""

    def __init__(self, bootstrap: str) -> None:
        self.producer = make_producer(bootstrap, "test-market-outbox")

    def publish(self, *events: DomainEvent | tuple[str, DomainEvent], source: str = MARKET_SOURCE) -> list[str]:
        ids = []
        for item in events:
            event_id, event = item if isinstance(item, tuple) else (str(uuid.uuid4()), item)
            value = CONTRACTS.encode(event, id=event_id, source=source, time=T0)
            self.producer.send(MARKET, event.subject().encode(), value, KAFKA_HEADERS)
            ids.append(event_id)
        self.producer.flush(10)
        return ids

    def publish_raw(self, key: bytes, value: bytes) -> None:
        self.producer.send(MARKET, key, value, KAFKA_HEADERS)
        self.producer.flush(10)


def row(stack: Stack, query: str, *params: Any) -> tuple[Any, ...] | None:
    with psycopg.connect(stack.dsn) as conn:
        return conn.execute(query, params).fetchone()


def opened(listing_id: int, quantity: int = 10, price: int = 150, at: datetime = T0) -> ListingOpened:
    return ListingOpened(
        listing_id=listing_id,
        seller_id=1,
        item_id=1,
        quantity=quantity,
        quantity_remaining=quantity,
        unit_price=Money.from_copper(price),
        opened_at=at,
    )


def sold(sale_id: int, listing_id: int, quantity: int, price: int = 150, at: datetime = T0) -> SaleRecorded:
    total = quantity * price
    fee = total * 5 // 100
    return SaleRecorded(
        sale_id=sale_id,
        listing_id=listing_id,
        buyer_id=2,
        seller_id=1,
        item_id=1,
        quantity=quantity,
        unit_price=Money.from_copper(price),
        total=Money.from_copper(total),
        fee=Money.from_copper(fee),
        seller_proceeds=Money.from_copper(total - fee),
        sold_at=at,
    )


def acl_events(tail: EventTail, subject: str) -> list[dict[str, Any]]:
    return [
        m["value"]
        for m in tail.messages
        if m["topic"] == MARKET and m["key"] == subject and m["value"]["source"] != MARKET_SOURCE
    ]


def relay_state(stack: Stack) -> str | None:
    try:
        return str(stack.status()["relay"]["state"])
    except (OSError, ValueError):
        return None


@pytest.fixture(scope="module")
def running(stack: Stack):
    stack.sql(
        "INSERT INTO smp_plyr (id, usr_id, nm, eml, sts, crt_dt, xtr) VALUES"
        " (1, 1, 'seller', '', 'A', localtimestamp, ''), (2, 2, 'buyer', '', 'A', localtimestamp, '')",
        "INSERT INTO smp_itm (id, sku, nm, cat, rar, act, crt_dt, xtr)"
        " VALUES (1, 'CNS-0001', 'Potion', 'CS', 0, 'Y', localtimestamp, '')",
    )
    stack.relay.start()
    stack.consumer.start()
    # Sync-back's rows must be written after the snapshot: a snapshot reads
    # every row as it is, whoever wrote it (consumers upsert snapshot reads).
    wait_until(lambda: relay_state(stack) == "streaming", timeout=90, what="the relay streaming")
    tail = EventTail(stack.kafka.bootstrap_servers, [MARKET, *LEGACY_TOPICS])
    syncback = stack.child("acl.syncback", stack.state / "syncback.log").start()
    market = Market(stack.kafka.bootstrap_servers)
    try:
        yield stack, tail, market, syncback
    finally:
        syncback.stop()
        tail.close()
        market.producer = None  # type: ignore[assignment]
        gc.collect()  # the producer sits in a cycle (its delivery callback): let librdkafka stop before the broker


def test_market_events_become_legacy_rows_that_never_come_back_as_domain_events(running):
    stack, tail, market, _ = running
    amended = ListingAmended(
        listing_id=501,
        status=ListingStatus.OPEN,
        quantity_remaining=6,
        unit_price=Money.from_copper(150),
        amended_at=T0 + timedelta(minutes=1),
    )
    cancelled = ListingCancelled(listing_id=501, quantity_returned=6, closed_at=T0 + timedelta(minutes=2))
    market.publish(opened(501), sold(9001, 501, 4, at=T0 + timedelta(minutes=1)), amended, cancelled)
    # the ACL's own events are already in the legacy tables: never applied
    market.publish(opened(777), source="/strangler/acl/legacy-smp")

    def cancelled_in_legacy() -> bool:
        found = row(stack, "SELECT sts FROM smp_lst WHERE id = 501")
        return found is not None and found[0] == "C"

    wait_until(cancelled_in_legacy, timeout=90, what="listing 501 cancelled in smp_lst", watch=None)
    assert row(
        stack, "SELECT sllr_id, itm_id, qty, qty_rem, prc_cp, sts, crt_dt, upd_dt FROM smp_lst WHERE id = 501"
    ) == (
        1,
        1,
        10,
        6,  # a cancelled listing keeps the quantity returned
        150,
        "C",
        datetime(2024, 6, 1, 12, 0),  # naive Europe/Paris
        datetime(2024, 6, 1, 12, 2),
    )
    wait_until(lambda: row(stack, "SELECT 1 FROM smp_sale WHERE id = 9001"), timeout=30, what="sale 9001")
    assert row(stack, "SELECT lst_id, byr_id, qty, prc_cp, tot_cp, fee_cp, sld_at FROM smp_sale WHERE id = 9001") == (
        501,
        2,
        4,
        150,
        600,
        30,
        datetime(2024, 6, 1, 12, 1),
    )
    assert row(stack, "SELECT 1 FROM smp_lst WHERE id = 777") is None, "an ACL-sourced event was applied"

    # A plain legacy write after sync-back's: the monolith takes ids from its
    # sequences, which sync-back raised past 501 and 9001.
    stack.sql(
        "INSERT INTO smp_lst (sllr_id, itm_id, qty, qty_rem, prc_cp, sts, crt_dt, upd_dt)"
        " VALUES (1, 1, 3, 3, 99, 'O', localtimestamp, localtimestamp)",
    )
    stack.sql(
        "INSERT INTO smp_sale (lst_id, byr_id, sllr_id, itm_id, qty, prc_cp, tot_cp, fee_cp, sld_at)"
        " SELECT max(id), 2, 1, 1, 1, 99, 99, 4, localtimestamp FROM smp_lst WHERE sllr_id = 1 AND prc_cp = 99",
    )
    legacy_listing = row(stack, "SELECT id FROM smp_lst WHERE prc_cp = 99")[0]
    legacy_sale = row(stack, "SELECT id FROM smp_sale WHERE prc_cp = 99")[0]
    assert legacy_listing > 501 and legacy_sale > 9001, "the legacy sequences were not raised"
    tail.wait_for(lambda _m: acl_events(tail, f"sales/{legacy_sale}"), 60, "the ACL's SaleRecorded of the legacy sale")
    tail.wait_for(lambda _m: acl_events(tail, f"listings/{legacy_listing}"), 30, "the legacy listing's event")

    # the relay tagged sync-back's changes (and only those) ...
    def legacy_records(table: str, row_id: int) -> list[dict[str, Any]]:
        topic = f"legacy.public.{table}"
        return [m for m in tail.messages if m["topic"] == topic and m["key"] == f'{{"id":{row_id}}}']

    tail.wait_for(lambda _m: len(legacy_records("smp_lst", 501)) >= 3, 30, "listing 501's changes on the legacy topic")
    tail.wait_for(lambda _m: legacy_records("smp_sale", 9001), 30, "sale 9001's change on the legacy topic")
    synced = legacy_records("smp_lst", 501) + legacy_records("smp_sale", 9001)
    assert all(m["headers"].get("strangler-origin") == b"syncback" for m in synced), synced
    plain = legacy_records("smp_lst", legacy_listing) + legacy_records("smp_sale", legacy_sale)
    assert plain and all("strangler-origin" not in m["headers"] for m in plain)
    # ... the ACL skipped them and counted them ...
    wait_until(lambda: stack.status()["relay"]["syncback_tagged"] >= len(synced), timeout=10, what="relay tag counter")

    def skipped_by_the_acl() -> int:
        reports = re.findall(r"acl status: processed=\d+ skipped_syncback=(\d+)", stack.consumer.log)
        return int(reports[-1]) if reports else 0

    wait_until(lambda: skipped_by_the_acl() >= len(synced), timeout=30, what="the ACL to count the skipped records")
    # ... so nothing written by sync-back became a domain event: the sale counts once.
    for subject in ("listings/501", "sales/9001"):
        assert acl_events(tail, subject) == [], f"sync-back's row {subject} came back as a domain event"
    assert not [t for t in existing_topics(stack.kafka.bootstrap_servers) if t.endswith(".message")]


def test_a_redelivered_event_applies_once(running):
    stack, _, market, _ = running
    first_amend = ListingAmended(
        listing_id=1502,
        status=ListingStatus.OPEN,
        quantity_remaining=8,
        unit_price=Money.from_copper(200),
        amended_at=T0 + timedelta(minutes=1),
    )
    listing = opened(1502, quantity=10, price=200)
    sale = sold(19001, 1502, 2, price=200)
    amend_id, sale_id = str(uuid.uuid4()), str(uuid.uuid4())
    cancel = ListingCancelled(listing_id=1502, quantity_returned=8, closed_at=T0 + timedelta(minutes=3))
    market.publish(listing, (sale_id, sale), (amend_id, first_amend), cancel)
    # the outbox's at-least-once delivery: the amendment and the sale again, after the cancellation
    market.publish((amend_id, first_amend), (sale_id, sale))
    marker = opened(1503)
    market.publish(marker)
    wait_until(lambda: row(stack, "SELECT 1 FROM smp_lst WHERE id = 1503"), timeout=60, what="listing 1503")
    wait_until(lambda: row(stack, "SELECT 1 FROM smp_sale WHERE id = 19001"), timeout=30, what="sale 19001")
    assert row(stack, "SELECT sts, qty_rem FROM smp_lst WHERE id = 1502") == ("C", 8), (
        "the replayed amendment re-opened it"
    )
    assert row(stack, "SELECT count(*) FROM smp_sale WHERE id = 19001") == (1,)
    assert row(
        stack, "SELECT count(*) FROM strangler_syncback_applied WHERE event_id IN (%s, %s)", amend_id, sale_id
    ) == (2,)


def test_offsets_survive_a_restart(running):
    stack, _, market, syncback = running
    wait_until(lambda: row(stack, "SELECT 1 FROM smp_lst WHERE id = 1503"), timeout=60, what="earlier events applied")
    assert syncback.stop() == 0
    with psycopg.connect(stack.dsn) as conn:
        stored = dict(conn.execute("SELECT partition, next_offset FROM strangler_syncback_offsets").fetchall())
    assert stored and all(offset > 0 for offset in stored.values())
    market.publish(opened(2001))
    again = stack.child("acl.syncback", stack.state / "syncback-2.log").start()
    try:
        wait_until(lambda: row(stack, "SELECT 1 FROM smp_lst WHERE id = 2001"), timeout=60, what="listing 2001")
    finally:
        assert again.stop() == 0
    log = again.log
    assert "'applied': 1, 'duplicates': 0" in log, f"the restart re-read applied events:\n{log[-2000:]}"
    syncback.start()  # for the tests that follow


def test_a_bad_event_goes_to_the_dlq_and_the_next_one_applies(running):
    stack, _, market, syncback = running
    missing = ListingCancelled(listing_id=4040, quantity_returned=1, closed_at=T0)
    broken = replace(sold(3001, 501, 2), total=Money.from_copper(1))
    unknown_buyer = replace(sold(3002, 501, 1), buyer_id=999)
    market.publish(missing, broken, unknown_buyer)
    market.publish_raw(b"listings/5", b"{not json")
    market.publish(opened(3003))
    wait_until(
        lambda: row(stack, "SELECT 1 FROM smp_lst WHERE id = 3003"), timeout=60, what="the event after the bad ones"
    )

    def letters() -> list[Any]:
        return [lt for lt in read_dead_letters(stack.kafka.bootstrap_servers, timeout=5) if lt.topic == MARKET]

    wait_until(lambda: len(letters()) >= 4, timeout=30, what="four dead letters")
    reasons = " | ".join(lt.reason for lt in letters())
    assert "smp_lst has no row 4040" in reasons
    assert "total 1 cp != quantity 2" in reasons
    assert "byr_id" in reasons or "foreign key" in reasons
    assert "not JSON" in reasons
    assert row(stack, "SELECT count(*) FROM smp_sale WHERE id IN (3001, 3002)") == (0,)
    assert syncback.alive()


def test_a_sale_published_before_its_listing_waits_for_it(running):
    """A sale and its listing travel on different partitions (keys sales/N
    and listings/M): the sale may be read first and must wait, not fail."""
    stack, _, market, syncback = running
    market.publish(sold(6001, 6000, 2))
    market.publish(opened(6000))
    wait_until(lambda: row(stack, "SELECT 1 FROM smp_sale WHERE id = 6001"), timeout=60, what="sale 6001")
    assert row(stack, "SELECT qty, tot_cp FROM smp_sale WHERE id = 6001") == (2, 300)
    assert not [lt for lt in read_dead_letters(stack.kafka.bootstrap_servers, timeout=5) if lt.key == "sales/6001"]
    assert syncback.alive()
