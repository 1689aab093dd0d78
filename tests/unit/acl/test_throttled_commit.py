"""The ACL commits after publishing, at most every interval while records
flow, and at once when the stream goes quiet (so nothing stays uncommitted)."""

from __future__ import annotations

from collections.abc import Sequence

from acl.ports import ChangeSource, Offsets, SourceRecord
from acl.unit_of_work import ThrottledCommitter


class RecordingSource(ChangeSource):
    def __init__(self) -> None:
        self.commits: list[tuple[dict[tuple[str, int], int], bool]] = []

    def poll(self, timeout_ms: int) -> Sequence[SourceRecord]:
        return []

    def commit(self, offsets: Offsets, *, wait: bool = False) -> None:
        self.commits.append((dict(offsets), wait))

    def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_commits_at_most_once_per_interval_while_flowing() -> None:
    source, clock = RecordingSource(), Clock()
    committer = ThrottledCommitter(source, 0.2, clock)
    for offset in range(1, 11):  # ten batches within 50 ms
        clock.now += 0.005
        committer.published({("t", 0): offset})
    assert source.commits == []
    clock.now += 0.2
    committer.published({("t", 1): 4})
    assert source.commits == [({("t", 0): 10, ("t", 1): 4}, False)]  # the latest offset of each partition


def test_commits_pending_offsets_when_idle_and_only_then() -> None:
    source, clock = RecordingSource(), Clock()
    committer = ThrottledCommitter(source, 0.2, clock)
    committer.idle()
    assert source.commits == []  # nothing published: nothing to commit
    committer.published({("t", 0): 3})
    committer.idle()
    committer.idle()
    committer.flush()
    assert source.commits == [({("t", 0): 3}, False)]


def test_a_flush_commits_what_is_pending_and_waits() -> None:
    source, clock = RecordingSource(), Clock()
    committer = ThrottledCommitter(source, 3600, clock)
    committer.published({("t", 0): 3})
    committer.flush()
    assert source.commits == [({("t", 0): 3}, True)]
