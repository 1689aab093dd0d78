"""The ACL commits after publishing, at most every interval while records
flow, and at once when the stream goes quiet (so nothing stays uncommitted)."""

from __future__ import annotations

from typing import Any

from acl.consumer import ThrottledCommitter


class RecordingConsumer:
    def __init__(self) -> None:
        self.commits = 0

    def commit_async(self, callback: Any = None) -> None:
        self.commits += 1


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_commits_at_most_once_per_interval_while_flowing() -> None:
    consumer, clock = RecordingConsumer(), Clock()
    committer = ThrottledCommitter(consumer, 0.2, clock)
    for _ in range(10):  # ten batches within 50 ms
        clock.now += 0.005
        committer.published()
    assert consumer.commits == 0
    clock.now += 0.2
    committer.published()
    assert consumer.commits == 1


def test_commits_pending_offsets_when_idle_and_only_then() -> None:
    consumer, clock = RecordingConsumer(), Clock()
    committer = ThrottledCommitter(consumer, 0.2, clock)
    committer.idle()
    assert consumer.commits == 0  # nothing published: nothing to commit
    committer.published()
    committer.idle()
    committer.idle()
    assert consumer.commits == 1
