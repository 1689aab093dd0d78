"""Shared set-up of the CDC benchmarks: a private embedded PostgreSQL (migrated
monolith schema), a Tansu broker, and the relay + ACL consumer as child
processes, all on loopback, all stopped at the end. Progress goes to stderr."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from local_stack.kafka import EmbeddedKafka  # noqa: E402
from local_stack.postgres import EmbeddedPostgres  # noqa: E402


class TopicCounter:
    """Counts messages on a topic by reading it (librdkafka, cheap): Tansu's
    end offsets lag behind what a reader sees, so they are not trusted."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from confluent_kafka import Consumer, TopicPartition

        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-counter",
                                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            meta = self.consumer.list_topics(topic, timeout=5).topics.get(topic)
            if meta is not None and meta.partitions and meta.error is None:
                break
            time.sleep(0.2)
        self.consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])  # type: ignore[union-attr]
        self.count = 0

    def poll(self, seconds: float) -> list[Any]:
        """Read for up to ``seconds``; returns the messages read."""
        out: list[Any] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            batch = [m for m in self.consumer.consume(10_000, 0.05) if m.error() is None]
            out += batch
        self.count += len(out)
        return out

    def close(self) -> None:
        self.consumer.close()


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class LoadSampler:
    """1-minute load average sampled every few seconds during the run."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    def sample(self) -> None:
        self.samples.append(os.getloadavg()[0])

    def report(self) -> dict[str, Any]:
        return {"cpus": os.cpu_count(), "loadavg_1m_samples_max": max(self.samples, default=None),
                "loadavg_1m_samples_mean": round(sum(self.samples) / len(self.samples), 2) if self.samples else None,
                "loadavg_at_end": os.getloadavg()}


class Children:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, module: str) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{module}.log", "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _exit_on_sigterm(*_: Any) -> None:
    raise SystemExit(143)  # run the finally blocks: stop every child


@contextmanager
def cdc_stack(name: str) -> Iterator[tuple[str, EmbeddedKafka, Children]]:
    """(legacy DSN, broker, children) with the schema migrated; nothing started yet."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
        root = Path(tmp)
        with EmbeddedPostgres(root / "pg") as pg:
            dsn = pg.create_database("smp")
            subprocess.run([sys.executable, "-m", "legacy_monolith.manage", "migrate", "-v0"], check=True, cwd=ROOT,
                           env={**os.environ, "STRANGLER_LEGACY_DATABASE_URL": dsn}, capture_output=True)
            with EmbeddedKafka(root / "kafka") as kafka:
                env = {**os.environ, "STRANGLER_LEGACY_DATABASE_URL": dsn, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
                       "STRANGLER_CDC_STATE_DIR": str(root / "cdc"), "STRANGLER_LOG_LEVEL": "WARNING"}
                children = Children(env, root)
                try:
                    yield dsn, kafka, children
                finally:
                    children.stop_all()


SEED_MARKET = [
    "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)"
    " SELECT g, 'x', false, 'u' || g, '', '', '', false, true, now() FROM generate_series(1, 100) g",
    "INSERT INTO smp_plyr (id, usr_id, nm, eml, sts, crt_dt, xtr) SELECT g, g, 'p' || g, '', 'A', localtimestamp, '' FROM generate_series(1, 100) g",
    "INSERT INTO smp_itm (id, sku, nm, cat, rar, act, crt_dt, xtr) SELECT g, 'ITM-' || g, 'item ' || g, 'MT', 0, 'Y', localtimestamp, '' FROM generate_series(1, 20) g",
    "INSERT INTO smp_lst (id, sllr_id, itm_id, qty, qty_rem, prc_cp, sts, crt_dt, upd_dt)"
    " SELECT g, 1 + g % 100, 1 + g % 20, 1000000000, 1000000000, 100 + g, 'O', localtimestamp, localtimestamp FROM generate_series(1, 20) g",
]
