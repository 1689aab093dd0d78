"""No loops: the relay tags the changes of a sync-back transaction, the ACL
skips what is tagged. Records here have the shape of real Debezium output
(the source block's field order is JsonConverter's: ``"txId":N,"lsn"``)."""

from __future__ import annotations

import json
from typing import Any

from acl.consumer import TranslatorLoop
from acl.relay import KafkaRelayHandler
from acl.relay_status import RelayStatus
from acl.syncback import SYNCBACK_HEADERS
from acl.syncback.tagging import MESSAGE_TOPIC, MarkerMemory, SyncbackTagger, is_syncback
from acl.topics import HEARTBEAT_TOPIC
from tests.unit.acl.test_consumer_commit import FakePublisher, FakeSource, Record

LST = "legacy.public.smp_lst"
SALE = "legacy.public.smp_sale"


def change(tx_id: int, row_id: int, *, table: str = "smp_sale", text: str = "") -> str:
    source = {"version": "3.6.3.Final", "connector": "postgresql", "name": "legacy", "ts_ms": 1, "snapshot": "false"}
    source |= {"db": "smp", "schema": "public", "table": table, "txId": tx_id, "lsn": 100 + row_id, "xmin": None}
    body = {"before": None, "after": {"id": row_id, "nm": text}, "source": source, "op": "c", "ts_ms": 2}
    return json.dumps(body, separators=(",", ":"))  # JsonConverter writes compact JSON


def marker(tx_id: int | None, prefix: str = "strangler.syncback") -> str:
    source = {"name": "legacy", "ts_ms": 1, "snapshot": "false", "db": "smp", "txId": tx_id, "lsn": 99}
    body = {"op": "m", "ts_ms": 2, "source": source, "message": {"prefix": prefix, "content": "ZXYx"}}
    return json.dumps(body, separators=(",", ":"))


def heartbeat() -> str:
    return json.dumps({"ts_ms": 3})


def test_records_of_the_marked_transaction_are_tagged_until_another_transaction_starts():
    tagger = SyncbackTagger()
    assert tagger.inspect(SALE, change(41, 1)) == ()
    assert tagger.inspect(MESSAGE_TOPIC, marker(42)) is SyncbackTagger.CONSUMED
    assert tagger.inspect(LST, change(42, 5, table="smp_lst")) == SYNCBACK_HEADERS
    assert tagger.inspect(HEARTBEAT_TOPIC, heartbeat()) == ()  # a heartbeat between records does not end it
    assert tagger.inspect(SALE, change(42, 2)) == SYNCBACK_HEADERS
    assert tagger.inspect(SALE, None) == SYNCBACK_HEADERS  # a delete's tombstone
    assert tagger.inspect(SALE, change(43, 3)) == ()
    assert tagger.marked is None, "the marked transaction should be over"
    assert tagger.inspect(SALE, change(42, 4)) == ()
    assert (tagger.transactions, tagger.tagged) == (1, 3)


def test_a_txid_that_is_only_a_prefix_or_inside_a_string_value_is_not_a_match():
    tagger = SyncbackTagger()
    tagger.inspect(MESSAGE_TOPIC, marker(42))
    assert tagger.inspect(SALE, change(420, 1, text='"txId":42,')) == ()


def test_other_messages_are_relayed_and_odd_markers_consumed_without_marking():
    tagger = SyncbackTagger()
    assert tagger.inspect(MESSAGE_TOPIC, marker(7, prefix="someone-else")) == ()
    assert tagger.inspect(MESSAGE_TOPIC, "not json") == ()
    assert tagger.inspect(MESSAGE_TOPIC, marker(None)) is SyncbackTagger.CONSUMED
    assert tagger.marked is None


def test_the_marked_transaction_survives_a_relay_restart(tmp_path):
    """Debezium resumes mid-transaction without repeating the marker."""
    memory = MarkerMemory(tmp_path / "syncback-marker.json")
    SyncbackTagger(memory).inspect(MESSAGE_TOPIC, marker(77))
    restarted = SyncbackTagger(memory)
    assert restarted.inspect(SALE, change(77, 9)) == SYNCBACK_HEADERS
    assert restarted.inspect(SALE, change(78, 10)) == ()


class FakeRecord:
    def __init__(self, topic: str, key: str | None, value: str | None) -> None:
        self._t, self._k, self._v = topic, key, value

    def destination(self) -> str:
        return self._t

    def key(self) -> str | None:
        return self._k

    def value(self) -> str | None:
        return self._v


def test_the_relay_sends_tags_and_drops_the_marker(tmp_path):
    journal: list[Any] = []
    producer = FakePublisher(journal)
    status = RelayStatus(tmp_path, "slot", {"smp_sale": SALE})
    handler = KafkaRelayHandler(producer, status)
    handler.handleJsonBatch(
        [
            FakeRecord(SALE, '{"id":1}', change(10, 1)),
            FakeRecord(MESSAGE_TOPIC, '{"prefix":"strangler.syncback"}', marker(11)),
            FakeRecord(SALE, '{"id":2}', change(11, 2)),
        ]
    )
    handler.handleJsonBatch([FakeRecord(SALE, '{"id":3}', change(11, 3)), FakeRecord(SALE, '{"id":4}', change(12, 4))])
    assert [(topic, key, headers) for topic, key, _, headers in producer.sent] == [
        (SALE, b'{"id":1}', ()),
        (SALE, b'{"id":2}', SYNCBACK_HEADERS),
        (SALE, b'{"id":3}', SYNCBACK_HEADERS),
        (SALE, b'{"id":4}', ()),
    ]
    relay = status.snapshot()["relay"]
    assert (relay["syncback_transactions"], relay["syncback_tagged"], relay["events_relayed"]) == (1, 2, 4)


def test_the_acl_skips_tagged_records_counts_them_and_commits_past_them(captured):
    sale = captured["sale_insert"][0]
    tagged = Record(SALE, 0, 0, sale["key"].encode(), sale["value"].encode(), headers=SYNCBACK_HEADERS)
    plain = Record(SALE, 0, 1, sale["key"].encode(), sale["value"].encode(), headers=(("other", b"x"),))
    journal: list[Any] = []
    source, publisher = FakeSource([[tagged, plain]], journal), FakePublisher(journal)
    loop = TranslatorLoop(source, publisher, commit_interval_s=0.0)
    assert loop.run_once() == 2
    assert [topic for topic, *_ in publisher.sent] == ["smp.market.v1"], "only the untagged sale is translated"
    assert loop.skipped_syncback == 1
    assert source.committed() == {(SALE, 0): 2}


def test_is_syncback():
    assert is_syncback([("content-type", b"x"), ("strangler-origin", b"syncback")])
    assert not is_syncback([("strangler-origin", b"legacy")])
    assert not is_syncback([])
    assert not is_syncback(None)
