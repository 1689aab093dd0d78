"""Typed settings for the relay, the consumer and sync-back, read once from
the environment. A missing required variable stops the process with a message
naming it (no silent defaults for where data lives)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from strangler_settings import DatabaseUrl, EnvSettings, SettingsError, env, integer, postgres_url

__all__ = ["ConsumerSettings", "DatabaseUrl", "RelaySettings", "SettingsError", "SyncbackSettings"]


def _database(raw: str) -> str:
    """A PostgreSQL URL or DSN, checked by libpq's parser, kept as given."""
    return str(postgres_url(raw))


def _directory(raw: str) -> Path:
    return Path(raw).resolve()


def _millis_as_seconds(raw: str) -> float:
    return integer(0)(raw) / 1000


def _seconds_as_millis(value: float) -> str:
    return str(round(value * 1000))


@dataclass(frozen=True)
class RelaySettings(EnvSettings):
    """``python -m acl.relay``.

    STRANGLER_LEGACY_DATABASE_URL  the monolith's database (postgresql://...)
    KAFKA_BOOTSTRAP_SERVERS        broker(s)
    STRANGLER_CDC_STATE_DIR        status.json, log4j2.properties (e.g. .strangler/cdc)
    STRANGLER_CDC_SLOT             replication slot + publication name (default strangler_legacy)
    STRANGLER_CDC_POLL_MS          Debezium poll.interval.ms (default 15: fewer, bigger batches for the
                                   broker; the lag measured at 15 and 5 is in docs/measured.md)
    STRANGLER_CDC_HEARTBEAT_MS     heartbeat.interval.ms (default 10000)
    STRANGLER_CDC_OFFSETS_DATABASE_URL  where Debezium keeps its offsets (postgresql://..., the control
                                   database): table cdc_offsets_<slot>, written by its JDBC offset store
    """

    database_url: str = env("STRANGLER_LEGACY_DATABASE_URL", _database, secret=True)
    bootstrap_servers: str = env("KAFKA_BOOTSTRAP_SERVERS")
    state_dir: Path = env("STRANGLER_CDC_STATE_DIR", _directory)
    offsets_database_url: str = env("STRANGLER_CDC_OFFSETS_DATABASE_URL", _database, secret=True)
    slot_name: str = env("STRANGLER_CDC_SLOT", default="strangler_legacy")
    poll_interval_ms: int = env("STRANGLER_CDC_POLL_MS", integer(0), default=15)
    heartbeat_interval_ms: int = env("STRANGLER_CDC_HEARTBEAT_MS", integer(0), default=10_000)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RelaySettings:
        return cls.read_env(env)

    @property
    def database(self) -> DatabaseUrl:
        return DatabaseUrl.parse(self.database_url)

    @property
    def offsets_database(self) -> DatabaseUrl:
        return DatabaseUrl.parse(self.offsets_database_url)


@dataclass(frozen=True)
class ConsumerSettings(EnvSettings):
    """``python -m acl`` (the translator consumer group).

    KAFKA_BOOTSTRAP_SERVERS        broker(s)
    STRANGLER_ACL_GROUP            consumer group id (default strangler-acl)
    STRANGLER_ACL_MAX_POLL_RECORDS records per poll (default 2000)
    STRANGLER_ACL_COMMIT_MS        least time between offset commits while records flow (default 200)
    """

    bootstrap_servers: str = env("KAFKA_BOOTSTRAP_SERVERS")
    group_id: str = env("STRANGLER_ACL_GROUP", default="strangler-acl")
    max_poll_records: int = env("STRANGLER_ACL_MAX_POLL_RECORDS", integer(1), default=2000)
    commit_interval_s: float = env(
        "STRANGLER_ACL_COMMIT_MS", _millis_as_seconds, default=0.2, render=_seconds_as_millis
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConsumerSettings:
        return cls.read_env(env)


@dataclass(frozen=True)
class SyncbackSettings(EnvSettings):
    """``python -m acl.syncback`` (market events -> legacy rows).

    STRANGLER_LEGACY_DATABASE_URL      the monolith's database (postgresql://...)
    KAFKA_BOOTSTRAP_SERVERS            broker(s)
    STRANGLER_SYNCBACK_MAX_POLL_RECORDS records per poll, i.e. per legacy transaction (default 500)
    STRANGLER_SYNCBACK_DEPENDENCY_WAIT_MS how long a sale waits for its listing before it is dead-lettered (default 30000)
    """

    database_url: str = env("STRANGLER_LEGACY_DATABASE_URL", _database, secret=True)
    bootstrap_servers: str = env("KAFKA_BOOTSTRAP_SERVERS")
    max_poll_records: int = env("STRANGLER_SYNCBACK_MAX_POLL_RECORDS", integer(1), default=500)
    dependency_wait_s: float = env(
        "STRANGLER_SYNCBACK_DEPENDENCY_WAIT_MS", _millis_as_seconds, default=30.0, render=_seconds_as_millis
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SyncbackSettings:
        return cls.read_env(env)
