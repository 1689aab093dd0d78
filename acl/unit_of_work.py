"""Publish a batch, *then* commit its source offsets: never the other way round.

:class:`BatchUnitOfWork` is one polled batch. Records are added with the
messages they became; :meth:`BatchUnitOfWork.commit` waits until the
publisher has every message acknowledged and only then hands the batch's
offsets to the :class:`ThrottledCommitter`. Leaving the ``with`` block
without committing (an exception) drops the offsets, so nothing of the
batch is ever committed and the group reads it again after a restart; the
events keep their ids, so the replay is harmless.

Offsets are the batch's own (last offset + 1 per partition), not the
consumer's positions: a poll moves the positions past records that may
never be published.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Self

from acl.ports import ChangeSource, EventPublisher, Offsets, Outbound, SourceRecord

log = logging.getLogger(__name__)


class ThrottledCommitter:
    """Commits published offsets at most every ``interval`` seconds while
    records flow, and at once when the stream goes quiet.

    Why throttle: every offset commit is a broker request, and on the
    embedded broker a request costs about a millisecond of CPU whatever its
    size; at 500 changes/s the ACL polled ~50 batches/s. Committing less
    often only widens what a crash replays, and replays are harmless."""

    def __init__(self, source: ChangeSource, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._source, self._interval, self._clock = source, interval, clock
        self._last = clock()
        self._pending: dict[tuple[str, int], int] = {}

    def published(self, offsets: Offsets) -> None:
        """These offsets' records are published and acknowledged."""
        self._pending.update(offsets)
        if self._clock() - self._last >= self._interval:
            self._commit(wait=False)

    def idle(self) -> None:
        """Nothing new arrived: commit what is pending now."""
        if self._pending:
            self._commit(wait=False)

    def flush(self) -> None:
        """Commit what is pending and wait for the broker (a clean stop)."""
        if self._pending:
            self._commit(wait=True)

    def _commit(self, *, wait: bool) -> None:
        self._source.commit(dict(self._pending), wait=wait)
        self._pending.clear()
        self._last = self._clock()


class BatchUnitOfWork:
    """One batch: ``with uow: uow.add(record, messages) ...; uow.commit()``."""

    def __init__(self, publisher: EventPublisher, committer: ThrottledCommitter, flush_timeout_s: float = 30.0) -> None:
        self._publisher, self._committer, self._flush_timeout_s = publisher, committer, flush_timeout_s
        self._offsets: dict[tuple[str, int], int] = {}

    def __enter__(self) -> Self:
        self._offsets = {}
        return self

    def add(self, record: SourceRecord, messages: Iterable[Outbound]) -> None:
        """Send what ``record`` became (possibly nothing: a tombstone)."""
        send = self._publisher.send
        for message in messages:
            send(message.topic, message.key, message.value, message.headers)
        self._offsets[(record.topic, record.partition)] = record.offset + 1

    def commit(self) -> None:
        """Wait for the broker's acknowledgements (raises PublishError), then
        let the batch's offsets be committed."""
        self._publisher.flush(self._flush_timeout_s)
        self._committer.published(self._offsets)
        self._offsets = {}

    def rollback(self) -> None:
        """Forget the batch's offsets: none of them will be committed."""
        if self._offsets:
            log.error("batch not published: its offsets are not committed, it is read again on restart")
        self._offsets = {}

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.rollback()
