"""The translator loop commits only what it has published.

A batch that was polled but never acknowledged by the broker (``flush``
raised, ``send`` raised) must not be committed: the group would skip it on
restart and its events would be lost. A clean stop still commits what was
published. An untranslatable record becomes a dead letter and the records
after it flow.

The two ports are replaced by in-memory fakes that subclass them; both
write into one shared journal, so the tests can check the order of
acknowledgement and commit.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from acl.consumer import TranslatorLoop
from acl.ports import ChangeSource, EventPublisher, Offsets, PublishError, SourceRecord
from acl.topics import DLQ_TOPIC

TOPIC = "legacy.public.smp_sale"


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int = 0
    headers: tuple[tuple[str, bytes | None], ...] = ()


def garbage(start: int, count: int, partition: int = 0) -> list[Record]:
    """Undecodable values: each becomes one dead letter to publish."""
    return [Record(TOPIC, partition, o, b"k", b"not json") for o in range(start, start + count)]


class FakeSource(ChangeSource):
    """Scripted batches, then a quiet stream; ``on_drained`` is called as
    the last batch is handed out (a stop requested while it is processed)."""

    def __init__(self, batches: list[list[Record]], journal: list[Any], on_drained: Any = None) -> None:
        self._batches, self.journal, self._on_drained = list(batches), journal, on_drained

    def poll(self, timeout_ms: int) -> Sequence[SourceRecord]:
        if not self._batches:
            return []
        if len(self._batches) == 1 and self._on_drained:
            self._on_drained()
        return self._batches.pop(0)

    def commit(self, offsets: Offsets, *, wait: bool = False) -> None:
        self.journal.append(("commit", dict(offsets), wait))

    def close(self) -> None:
        pass

    def committed(self) -> dict[tuple[str, int], int]:
        """The group's offsets after every commit so far."""
        out: dict[tuple[str, int], int] = {}
        for entry in self.journal:
            if entry[0] == "commit":
                out.update(entry[1])
        return out


class FakePublisher(EventPublisher):
    """Keeps what was sent; acknowledges on ``flush`` unless told to fail."""

    def __init__(self, journal: list[Any], *, fail_flush_at: int | None = None, fail_send: bool = False) -> None:
        self.journal = journal
        self.sent: list[tuple[str, bytes | None, bytes | None, tuple[tuple[str, bytes], ...]]] = []
        self._pending = 0
        self.flushes = 0
        self._fail_flush_at, self._fail_send = fail_flush_at, fail_send

    def send(
        self,
        topic: str,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        if self._fail_send:
            raise RuntimeError("local queue broken")
        self.sent.append((topic, key, value, tuple(headers)))
        self._pending += 1

    def flush(self, timeout: float = 30.0) -> None:
        self.flushes += 1
        if self._fail_flush_at is not None and self.flushes >= self._fail_flush_at:
            raise PublishError(f"{self._pending} records not delivered within {timeout}s")
        self.journal.append(("acknowledged", self._pending))
        self._pending = 0

    def close(self, timeout: float = 10.0) -> None:
        pass


def make_loop(
    batches: list[list[Record]],
    *,
    commit_interval_s: float = 0.0,
    **publisher_options: Any,
) -> tuple[TranslatorLoop, FakeSource, FakePublisher, threading.Event]:
    journal: list[Any] = []
    stop = threading.Event()
    source = FakeSource(batches, journal, on_drained=stop.set)
    publisher = FakePublisher(journal, **publisher_options)
    return TranslatorLoop(source, publisher, commit_interval_s=commit_interval_s), source, publisher, stop


def test_offsets_are_committed_after_the_broker_acknowledged_the_batch() -> None:
    loop, source, _, _ = make_loop([garbage(0, 3)])
    assert loop.run_once() == 3
    assert source.journal == [("acknowledged", 3), ("commit", {(TOPIC, 0): 3}, False)]


def test_a_batch_whose_flush_failed_is_not_committed() -> None:
    loop, source, publisher, stop = make_loop([garbage(0, 3)], fail_flush_at=1)
    with pytest.raises(PublishError):
        loop.run(stop)
    assert len(publisher.sent) == 3
    assert source.committed() == {}, "the unpublished batch was committed: it is lost on restart"


@pytest.mark.parametrize("commit_interval_s", [0.0, 3600.0], ids=["commit-each-batch", "throttled"])
def test_only_the_published_batches_are_committed_when_a_later_flush_fails(commit_interval_s: float) -> None:
    loop, source, _, stop = make_loop(
        [garbage(0, 3), garbage(3, 3)], commit_interval_s=commit_interval_s, fail_flush_at=2
    )
    with pytest.raises(PublishError):
        loop.run(stop)
    # Offsets 0-2 were published; 3-5 were polled but never acknowledged.
    expected = {(TOPIC, 0): 3} if commit_interval_s == 0 else {}  # throttled: not yet committed, replayed
    assert source.committed() == expected


def test_a_crash_while_sending_commits_nothing() -> None:
    loop, source, _, stop = make_loop([garbage(0, 2)], fail_send=True)
    with pytest.raises(RuntimeError, match="local queue broken"):
        loop.run(stop)
    assert source.committed() == {}


def test_a_clean_stop_commits_what_was_published_and_waits_for_it() -> None:
    loop, source, publisher, stop = make_loop([garbage(0, 3), garbage(3, 2, partition=1)], commit_interval_s=3600)
    loop.run(stop)
    assert len(publisher.sent) == 5 and loop.processed == 5
    assert source.journal[-1] == ("commit", {(TOPIC, 0): 3, (TOPIC, 1): 5}, True)


def test_an_untranslatable_record_is_dead_lettered_with_its_reason_and_the_stream_goes_on(captured) -> None:
    poison, good = captured["poison_player_status"][0], captured["sale_insert"][0]
    records = [
        Record("legacy.public.smp_plyr", 0, 7, poison["key"].encode(), poison["value"].encode()),
        Record(TOPIC, 0, 8, good["key"].encode(), good["value"].encode()),
    ]
    loop, source, publisher, _ = make_loop([records])
    loop.run_once()
    (dlq_topic, dlq_key, letter, dlq_headers), (topic, key, event, headers) = publisher.sent
    assert letter is not None and event is not None
    assert (dlq_topic, dlq_key, dlq_headers) == (DLQ_TOPIC, poison["key"].encode(), ())
    dead = json.loads(letter)
    assert "unknown code 'Z'" in dead["reason"] and dead["error_type"] == "TranslationError"
    assert (dead["topic"], dead["offset"]) == ("legacy.public.smp_plyr", 7)
    assert (topic, key) == ("smp.market.v1", b"sales/1")
    assert json.loads(event)["type"] == "smp.market.SaleRecorded.v1"
    assert headers == (("content-type", b"application/cloudevents+json"),)
    assert source.committed() == {("legacy.public.smp_plyr", 0): 8, (TOPIC, 0): 9}
