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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from acl.settings import ConsumerSettings, RelaySettings  # noqa: E402
from local_stack.kafka import EmbeddedKafka  # noqa: E402
from local_stack.postgres import EmbeddedPostgres  # noqa: E402
from local_stack.processes import ChildFailed, ManagedProcess, wait_until  # noqa: E402


class TopicCounter:
    """Counts messages on a topic by reading it (librdkafka, cheap): Tansu's
    end offsets lag behind what a reader sees, so they are not trusted."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from confluent_kafka import Consumer, TopicPartition

        # Few, big fetches: every fetch costs the broker far more than the
        # records in it (measured on Tansu: with librdkafka's defaults this
        # counter cost the broker ~57 us per row, more than the ACL's reads).
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "bench-counter",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "fetch.min.bytes": 1_000_000,
                "fetch.wait.max.ms": 200,
            }
        )

        def metadata() -> Any:
            meta = self.consumer.list_topics(topic, timeout=5).topics.get(topic)
            return meta if meta is not None and meta.partitions and meta.error is None else None

        meta = wait_until(metadata, timeout=60, what=f"topic {topic}", interval=0.2)
        self.consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
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


class GroupProgress:
    """How many records of a topic a consumer group has committed.

    The ACL commits a batch only after its events are acknowledged on the
    domain topic, so a committed offset is proof that everything before it
    was published. Reading that costs one small request per check, where a
    reader tailing the domain topic costs the broker about as much as the ACL
    itself (measured on Tansu: ~40-57 us per row); the benchmark would
    otherwise measure its own observer."""

    def __init__(self, bootstrap: str, group: str, topic: str, partitions: int) -> None:
        from confluent_kafka import Consumer, TopicPartition

        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
        self.partitions = [TopicPartition(topic, p) for p in range(partitions)]

    def committed(self) -> int:
        try:
            offsets = self.consumer.committed(self.partitions, timeout=5)
        except Exception:
            return 0
        return sum(max(tp.offset, 0) for tp in offsets)

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
        return {
            "cpus": os.cpu_count(),
            "loadavg_1m_samples_max": max(self.samples, default=None),
            "loadavg_1m_samples_mean": round(sum(self.samples) / len(self.samples), 2) if self.samples else None,
            "loadavg_at_end": os.getloadavg(),
        }


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a live process (Linux ``/proc``), or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds each part of the pipeline spends between two readings:
    says which part a throughput or latency figure is bound by."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids
        self.start = {name: cpu_seconds(pid) for name, pid in pids.items()}

    def report(self, rows: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, pid in self.pids.items():
            now, then = cpu_seconds(pid), self.start[name]
            if now is not None and then is not None:
                out[name] = {
                    "cpu_seconds": round(now - then, 2),
                    "cpu_us_per_row": round((now - then) / max(rows, 1) * 1e6, 1),
                }
        return out


class Children:
    """The relay and the ACL consumer (``python -m <module>``), logs in ``logs``."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.modules: dict[str, ManagedProcess] = {}

    def pid(self, module: str) -> int | None:
        child = self.modules.get(module)
        return child.pid if child else None

    def check_alive(self) -> None:
        """Stop the benchmark at once if a child died (instead of waiting for
        the timeout with nothing flowing)."""
        try:
            for child in self.modules.values():
                child.check_alive()
        except ChildFailed as failed:
            raise SystemExit(str(failed)) from None

    def start(self, module: str) -> ManagedProcess:
        log = self.logs / f"{module}.log"
        child = ManagedProcess(module, [sys.executable, "-m", module], log_file=log, env=self.env, cwd=ROOT)
        self.modules[module] = child.start()
        return child

    def stop_all(self) -> None:
        for child in reversed(self.modules.values()):
            child.stop(30)


def _exit_on_sigterm(*_: Any) -> None:
    raise SystemExit(143)  # run the finally blocks: stop every child


@contextmanager
def cdc_stack(name: str) -> Iterator[tuple[str, EmbeddedKafka, Children]]:
    """(legacy DSN, broker, children) with the schema migrated; nothing
    started yet. The relay keeps its offsets in a control database of the
    same cluster, as ``strangler up`` does."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
        root = Path(tmp)
        with EmbeddedPostgres(root / "pg") as pg:
            dsn = pg.create_database("smp")
            subprocess.run(
                [sys.executable, "-m", "legacy_monolith.manage", "migrate", "-v0"],
                check=True,
                cwd=ROOT,
                env={**os.environ, "STRANGLER_LEGACY_DATABASE_URL": dsn},
                capture_output=True,
            )
            with EmbeddedKafka(root / "kafka") as kafka:
                relay = RelaySettings(
                    database_url=dsn,
                    bootstrap_servers=kafka.bootstrap_servers,
                    state_dir=root / "cdc",
                    offsets_database_url=pg.create_database("strangler_control"),
                )
                consumer = ConsumerSettings(bootstrap_servers=kafka.bootstrap_servers)
                env = {**os.environ, **relay.render_env(), **consumer.render_env(), "STRANGLER_LOG_LEVEL": "WARNING"}
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
