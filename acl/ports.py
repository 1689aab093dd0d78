"""The two ports of the translator loop: where changes come from and where
messages go. The Kafka adapters (:mod:`acl.kafka_io`) implement them in
production; unit tests subclass them with in-memory fakes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol


class PublishError(RuntimeError):
    """At least one message was not acknowledged by the broker."""


#: ``(topic, partition) -> next offset to read``: what a commit stores.
Offsets = Mapping[tuple[str, int], int]


class SourceRecord(Protocol):
    """One consumed record (kafka-python's ``ConsumerRecord`` has this shape)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes | None]] | None:
        """Kafka record headers (kafka-python gives a list, empty if none)."""


class Outbound(NamedTuple):
    """One message to publish."""

    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


class ChangeSource(Protocol):
    """The legacy change topics, read by a consumer group."""

    def poll(self, timeout_ms: int) -> Sequence[SourceRecord]:
        """The next records (empty if none came within ``timeout_ms``)."""

    def commit(self, offsets: Offsets, *, wait: bool = False) -> None:
        """Store ``offsets`` as the group's position. Without ``wait`` it may
        return before the broker stored them: a lost commit only replays
        records, whose events keep their ids."""

    def close(self) -> None: ...


class EventPublisher(Protocol):
    """The domain and dead-letter topics."""

    def send(
        self,
        topic: str,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """Queue one message; it may not have reached the broker yet."""

    def flush(self, timeout: float = 30.0) -> None:
        """Return once the broker acknowledged every queued message; raise
        :class:`PublishError` if any was not."""

    def close(self, timeout: float = 10.0) -> None: ...
