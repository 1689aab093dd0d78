"""The state directory of a local stack (default ``.strangler/``).

Layout::

    .strangler/
      stack.lock        held (flock) by the running ``strangler up``
      endpoints.json    URLs and DSNs of the running stack, for tools
      admin-token       the proxy's admin bearer token, mode 0600
      django-secret-key the monolith's SECRET_KEY, mode 0600
      admin-password    password of the Django admin user ``admin``, mode 0600
      demo-token        API token of a seeded demo player (with --seed-sales), 0600
      internal-token    the monolith's internal API token (X-Strangler-Service-Token), 0600
      identity-keys.json  HMAC keys of the signed identity header, 0600
                        (``strangler identity rotate-key`` rotates them)
      postgres/data     the embedded PostgreSQL cluster (kept across runs)
      logs/<part>.log   one log per child process

Only one stack may own a state directory at a time: the lock is an
``flock`` on ``stack.lock``, released by the kernel if the holder dies, so a
crashed stack never blocks the next one.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from pathlib import Path
from typing import Any, TextIO

from new_services.platform.identity import ensure_key_file


class StateDirBusy(RuntimeError):
    """Another running stack holds this state directory."""


class StateDir:
    def __init__(self, path: Path) -> None:
        self.path = Path(path).resolve()
        self._lock_file: TextIO | None = None

    @property
    def endpoints_file(self) -> Path:
        return self.path / "endpoints.json"

    @property
    def postgres_data(self) -> Path:
        return self.path / "postgres" / "data"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    def log(self, part: str) -> Path:
        return self.logs / f"{part}.log"

    # -- ownership -------------------------------------------------------

    def acquire(self) -> None:
        """Take the directory for this process or raise ``StateDirBusy``
        without touching anything inside it."""
        self.path.mkdir(parents=True, exist_ok=True)
        lock = open(self.path / "stack.lock", "a+")  # noqa: SIM115 -- the flock lives as long as the stack; release() closes it
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            lock.close()
            raise StateDirBusy(f"state dir {self.path} is in use by another running stack (pid {holder})") from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        self._lock_file = lock

    def release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # -- files -------------------------------------------------------------

    def admin_token(self) -> str:
        """The proxy's admin bearer token: ``STRANGLER_ADMIN_TOKEN`` if set,
        else the one kept in ``admin-token``."""
        return self.secret("admin-token", env_var="STRANGLER_ADMIN_TOKEN")

    def secret(self, name: str, *, env_var: str | None = None) -> str:
        """A secret from ``env_var`` if set, else from the file ``name`` in the
        state dir, generated on first use with mode 0600 (never logged)."""
        from_env = os.environ.get(env_var) if env_var else None
        if from_env:
            return from_env
        secret_file = self.path / name
        if secret_file.exists():
            return secret_file.read_text().strip()
        value = secrets.token_urlsafe(32)
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
        return value

    def internal_token(self) -> str:
        """The token the proxy and the new services present to the
        monolith's ``/_internal/`` API: ``STRANGLER_INTERNAL_TOKEN`` if set,
        else ``internal-token`` (0600, generated once)."""
        return self.secret("internal-token", env_var="STRANGLER_INTERNAL_TOKEN")

    @property
    def identity_keys_file(self) -> Path:
        return self.path / "identity-keys.json"

    def identity_keys(self) -> Path:
        """The identity key file (created with one key, 0600, if missing):
        ``STRANGLER_IDENTITY_KEYS`` if set, else ``identity-keys.json``."""
        path = Path(os.environ.get("STRANGLER_IDENTITY_KEYS") or self.identity_keys_file)
        ensure_key_file(path)
        return path

    def identity_env(self) -> dict[str, str]:
        """What the proxy, the monolith and the new services need for
        identity continuity (``docs/market-write-side.md``); add it to a
        child's environment: ``{**env, **state.identity_env()}``."""
        return {
            "STRANGLER_INTERNAL_TOKEN": self.internal_token(),
            "STRANGLER_IDENTITY_KEYS": str(self.identity_keys()),
        }

    def write_endpoints(self, endpoints: dict[str, Any]) -> None:
        """Atomic replace, so a reader never sees half a file. Mode 0600: the
        database URLs of the new services carry their role's password."""
        tmp = self.endpoints_file.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(endpoints, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.endpoints_file)

    def read_endpoints(self) -> dict[str, Any]:
        return json.loads(self.endpoints_file.read_text())

    def clear_endpoints(self) -> None:
        self.endpoints_file.unlink(missing_ok=True)
