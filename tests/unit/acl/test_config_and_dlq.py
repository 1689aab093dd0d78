"""Deployment parity (Kafka Connect file == embedded relay), settings, DLQ."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from acl.consumer import process_record
from acl.debezium_config import capture_properties, embedded_properties, kafka_connect_registration, offsets_table
from acl.dlq import DeadLetter
from acl.ports import EventPublisher
from acl.settings import ConsumerSettings, RelaySettings, SettingsError
from acl.topics import DLQ_TOPIC

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "debezium-postgres-connector.json"


def test_deploy_file_matches_the_relay_capture_config(monkeypatch, tmp_path):
    on_disk = json.loads(DEPLOY.read_text())
    assert on_disk == kafka_connect_registration()
    monkeypatch.setenv("STRANGLER_LEGACY_DATABASE_URL", "postgresql://u:p@127.0.0.1:5433/smp")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    monkeypatch.setenv("STRANGLER_CDC_STATE_DIR", str(tmp_path))
    monkeypatch.setenv(
        "STRANGLER_CDC_OFFSETS_DATABASE_URL", "postgresql://ctl:s%40cret@127.0.0.1:5433/strangler_control"
    )
    embedded = embedded_properties(RelaySettings.from_env())
    for key, value in capture_properties().items():
        assert on_disk["config"][key] == embedded[key] == value
    assert embedded["database.port"] == "5433" and embedded["database.password"] == "p"
    assert on_disk["config"]["table.include.list"].count("public.smp_") == 6


RELAY_VARIABLES = (
    "STRANGLER_LEGACY_DATABASE_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "STRANGLER_CDC_STATE_DIR",
    "STRANGLER_CDC_OFFSETS_DATABASE_URL",
)


@pytest.mark.parametrize("missing", RELAY_VARIABLES)
def test_relay_settings_fail_loudly(monkeypatch, missing):
    for name in RELAY_VARIABLES:
        monkeypatch.setenv(name, "postgresql://x@h/db" if "URL" in name else "x")
    monkeypatch.delenv(missing)
    with pytest.raises(SettingsError, match=missing):
        RelaySettings.from_env()


def relay_settings(offsets_url: str, slot: str = "strangler_legacy") -> RelaySettings:
    return RelaySettings(
        database_url="postgresql://u:p@127.0.0.1:5433/smp",
        bootstrap_servers="127.0.0.1:9092",
        state_dir=Path("/nonexistent"),
        offsets_database_url=offsets_url,
        slot_name=slot,
    )


def test_offsets_go_to_debezium_s_jdbc_store_in_the_offsets_database():
    props = embedded_properties(relay_settings("postgresql://ctl:s%40cret@10.0.0.5:6432/strangler_control", "slot_a"))
    assert props["offset.storage"] == "io.debezium.storage.jdbc.offset.JdbcOffsetBackingStore"
    assert props["offset.storage.jdbc.connection.url"].startswith("jdbc:postgresql://10.0.0.5:6432/strangler_control?")
    assert props["offset.storage.jdbc.connection.user"] == "ctl"
    assert props["offset.storage.jdbc.connection.password"] == "s@cret"
    assert props["offset.storage.jdbc.table.name"] == "cdc_offsets_slot_a"
    assert not [k for k in props if k.startswith("offset.storage.file")]


def test_a_passwordless_offsets_url_still_gives_the_store_the_password_it_requires():
    props = embedded_properties(relay_settings("postgresql://postgres@127.0.0.1:5432/strangler_control"))
    assert props["offset.storage.jdbc.connection.password"]


def test_the_offsets_table_is_one_per_slot_and_a_plain_identifier():
    assert offsets_table("slot_acl_it_1_2") == "cdc_offsets_slot_acl_it_1_2"
    with pytest.raises(ValueError):
        offsets_table('x"; DROP TABLE y; --')


def test_consumer_settings_fail_loudly(monkeypatch):
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    with pytest.raises(SettingsError):
        ConsumerSettings.from_env()


@dataclass
class Record:
    """Stand-in for kafka-python's ConsumerRecord (pure unit test)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int = 0


def test_poison_becomes_a_dead_letter_with_its_coordinates(captured):
    poison = captured["poison_player_status"][0]
    record = Record("legacy.public.smp_plyr", 2, 41, poison["key"].encode(), poison["value"].encode())
    [(topic, key, value, headers)] = process_record(record)
    assert topic == DLQ_TOPIC and key == poison["key"].encode()
    assert headers == ()  # a dead letter is not a CloudEvent
    letter = DeadLetter(**json.loads(value))
    assert (letter.topic, letter.partition, letter.offset) == ("legacy.public.smp_plyr", 2, 41)
    assert "unknown code 'Z'" in letter.reason and letter.error_type == "TranslationError"
    assert letter.value == poison["value"]


def test_tombstone_produces_nothing():
    assert process_record(Record("legacy.public.smp_sale", 0, 1, b'{"id":1}', None)) == []


class RecordingPublisher(EventPublisher):
    """A fake of the publisher port: keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, tuple[tuple[str, bytes], ...]]] = []

    def send(
        self,
        topic: str,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        self.sent.append((topic, key, value, tuple(headers)))

    def flush(self, timeout: float = 30.0) -> None:
        pass

    def close(self, timeout: float = 10.0) -> None:
        pass


def test_replay_publishes_what_now_translates_and_reports_the_rest(captured):
    from acl.consumer import translate_record
    from acl.dlq import replay

    good, bad = captured["sale_insert"][0], captured["poison_player_status"][0]
    letters = [
        DeadLetter(
            reason="old bug",
            error_type="TranslationError",
            topic="legacy.public.smp_sale",
            partition=0,
            offset=7,
            timestamp_ms=0,
            key=good["key"],
            value=good["value"],
            dead_lettered_at_ms=0,
        ),
        DeadLetter(
            reason="bad code",
            error_type="TranslationError",
            topic="legacy.public.smp_plyr",
            partition=0,
            offset=8,
            timestamp_ms=0,
            key=bad["key"],
            value=bad["value"],
            dead_lettered_at_ms=0,
        ),
    ]
    publisher = RecordingPublisher()
    ok, still = replay(letters, translate_record, publisher)
    assert (ok.published, ok.error) == (1, None)
    assert still.published == 0 and "unknown code 'Z'" in (still.error or "")
    [(topic, key, _, headers)] = publisher.sent
    assert topic == "smp.market.v1" and key == b"sales/1"
    assert headers == (("content-type", b"application/cloudevents+json"),)
