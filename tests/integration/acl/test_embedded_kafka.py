"""The embedded Tansu broker: starts on a free loopback port, answers Kafka
metadata, refuses a busy port with a clear error, stops without leftovers."""

from __future__ import annotations

import pytest

from local_stack.kafka import EmbeddedKafka, KafkaStartError, broker_answers


def test_start_refuse_busy_port_and_stop(tmp_path):
    with EmbeddedKafka(tmp_path / "a") as kafka:
        assert kafka.bootstrap_servers.startswith("127.0.0.1:")
        assert broker_answers(kafka.bootstrap_servers)
        second = EmbeddedKafka(tmp_path / "b", port=kafka.port)
        with pytest.raises(KafkaStartError, match="already in use"):
            second.start()
        assert second.pid is None
        pid = kafka.pid
    assert kafka.pid is None
    with pytest.raises(ProcessLookupError):
        import os

        os.kill(pid, 0)  # type: ignore[arg-type]
