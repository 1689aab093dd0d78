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


def test_broker_runs_one_tokio_worker_unless_told_otherwise(tmp_path, monkeypatch):
    """One worker thread measured faster on 2 cores; an empty override must
    not reach tokio (it panics on an empty TOKIO_WORKER_THREADS)."""
    import os

    monkeypatch.setenv("TOKIO_WORKER_THREADS", "")
    with EmbeddedKafka(tmp_path / "one") as kafka:
        assert broker_answers(kafka.bootstrap_servers)
        one = len(os.listdir(f"/proc/{kafka.pid}/task"))
    monkeypatch.setenv("TOKIO_WORKER_THREADS", "3")
    with EmbeddedKafka(tmp_path / "three") as kafka:
        assert broker_answers(kafka.bootstrap_servers)
        three = len(os.listdir(f"/proc/{kafka.pid}/task"))
    assert three >= one + 2  # tokio may add blocking-pool threads lazily
