"""The signed identity header: how a new service knows who is calling.

The legacy clients authenticate with a DRF token that only the monolith can
resolve. The proxy resolves it (see ``strangler_proxy/identity.py``) and
forwards the result in ``X-Strangler-Identity``, signed with HMAC-SHA256 by a
key the services share with the proxy through the state directory. A service
trusts that header and nothing else: a missing header is an anonymous
caller, a forged, altered, unknown-key or expired one is refused.

Wire form (ASCII, one header value)::

    v1.<kid>.<base64url(json claims)>.<base64url(hmac-sha256)>

The MAC covers ``v1.<kid>.<claims>``. Claims:

- ``iat`` / ``exp``: seconds since the epoch; a header lives ``lifetime``
  seconds (default 60), so a captured header goes stale quickly.
- ``auth``: ``"token"`` (a valid legacy token) or ``"invalid"`` (a token was
  sent and the monolith refused it; the service answers as DRF would).
- ``user_id``, ``username``, ``player_id`` (``None`` when the user has no
  player account), ``player_status`` (``"A"``, ``"B"``, ``"D"`` or ``None``).

Key rotation without downtime: the key file holds every key still accepted
and names the one used to sign. ``rotate`` adds a new signing key and keeps
the previous ones; keys older than ``retire_after`` seconds past their
replacement are dropped. Readers reload the file when its mtime changes, so
a rotation reaches every process without a restart.

Key file (``<state>/identity-keys.json``, mode 0600)::

    {"active": "k2", "keys": {"k1": {"secret": "...", "created": 1700000000, "replaced": 1700000500},
                              "k2": {"secret": "...", "created": 1700000500, "replaced": null}}}
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HEADER = "x-strangler-identity"
VERSION = "v1"
DEFAULT_LIFETIME_S = 60
CLOCK_SKEW_S = 5
DEFAULT_RETIRE_AFTER_S = 3600


class IdentityError(ValueError):
    """A header that must not be trusted; the message says why (for logs, not clients)."""


@dataclass(frozen=True)
class Identity:
    """Who the proxy says is calling."""

    auth: str  # "token" or "invalid"
    user_id: int | None = None
    username: str | None = None
    player_id: int | None = None
    player_status: str | None = None

    @property
    def valid(self) -> bool:
        return self.auth == "token"


@dataclass(frozen=True)
class Keyring:
    """The keys accepted, and which one signs."""

    active: str
    keys: Mapping[str, bytes]

    def signing_key(self) -> tuple[str, bytes]:
        return self.active, self.keys[self.active]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, signed_part: str) -> bytes:
    return hmac.new(key, signed_part.encode("ascii"), hashlib.sha256).digest()


def sign(
    identity: Identity, keyring: Keyring, *, now: float | None = None, lifetime_s: int = DEFAULT_LIFETIME_S
) -> str:
    """The header value carrying ``identity``, valid for ``lifetime_s``."""
    issued = int(time.time() if now is None else now)
    claims = {**asdict(identity), "iat": issued, "exp": issued + lifetime_s}
    kid, key = keyring.signing_key()
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signed_part = f"{VERSION}.{kid}.{body}"
    return f"{signed_part}.{_b64(_mac(key, signed_part))}"


def verify(value: str, keyring: Keyring, *, now: float | None = None) -> Identity:
    """The identity in a header value, or ``IdentityError`` if it is forged,
    altered, signed by an unknown key, malformed or expired."""
    parts = value.strip().split(".")
    if len(parts) != 4 or parts[0] != VERSION:
        raise IdentityError("malformed identity header")
    _, kid, body, mac = parts
    key = keyring.keys.get(kid)
    if key is None:
        raise IdentityError(f"identity header signed by an unknown key {kid!r}")
    try:
        expected, given = _mac(key, f"{VERSION}.{kid}.{body}"), _unb64(mac)
        claims = json.loads(_unb64(body))
    except (ValueError, UnicodeError) as exc:
        raise IdentityError("malformed identity header") from exc
    if not hmac.compare_digest(expected, given):
        raise IdentityError("identity header signature does not match")
    return _identity_from_claims(claims, time.time() if now is None else now)


def _identity_from_claims(claims: Any, now: float) -> Identity:
    if not isinstance(claims, dict):
        raise IdentityError("malformed identity claims")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int) or not isinstance(iat, int):
        raise IdentityError("identity claims lack iat/exp")
    if now > exp + CLOCK_SKEW_S:
        raise IdentityError("identity header expired")
    if iat > now + CLOCK_SKEW_S:
        raise IdentityError("identity header issued in the future")
    auth = claims.get("auth")
    if auth not in ("token", "invalid"):
        raise IdentityError("identity claims have an unknown auth kind")
    return Identity(
        auth=auth,
        user_id=claims.get("user_id"),
        username=claims.get("username"),
        player_id=claims.get("player_id"),
        player_status=claims.get("player_status"),
    )


# -- the key file -------------------------------------------------------------


def _write_private(path: Path, document: Mapping[str, Any]) -> None:
    """Write atomically (tmp + rename) with mode 0600: readers never see half a file."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(document, out, indent=2, sort_keys=True)
    os.replace(tmp, path)


def _read_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise IdentityError(f"cannot read identity keys {path}: {exc}") from exc
    if not isinstance(document, dict) or document.get("active") not in document.get("keys", {}):
        raise IdentityError(f"identity keys {path} name no active key")
    return document


def _keyring(document: Mapping[str, Any]) -> Keyring:
    keys = {kid: _unb64(entry["secret"]) for kid, entry in document["keys"].items()}
    return Keyring(active=document["active"], keys=keys)


def ensure_key_file(path: Path, *, now: float | None = None) -> Keyring:
    """Create the key file with one key if it does not exist; return its keyring."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        created = int(time.time() if now is None else now)
        document = {
            "active": "k1",
            "keys": {"k1": {"secret": _b64(secrets.token_bytes(32)), "created": created, "replaced": None}},
        }
        _write_private(path, document)
    return _keyring(_read_document(path))


def rotate(path: Path, *, now: float | None = None, retire_after_s: int = DEFAULT_RETIRE_AFTER_S) -> str:
    """Add a new signing key, keep the previous ones verifiable, drop keys
    replaced more than ``retire_after_s`` ago. Returns the new key id."""
    moment = int(time.time() if now is None else now)
    document = _read_document(path)
    keys: dict[str, Any] = document["keys"]
    keys[document["active"]]["replaced"] = moment
    number = 1 + max(int(kid.lstrip("k")) for kid in keys if kid.lstrip("k").isdigit())
    new_kid = f"k{number}"
    keys[new_kid] = {"secret": _b64(secrets.token_bytes(32)), "created": moment, "replaced": None}
    document["keys"] = {
        kid: entry
        for kid, entry in keys.items()
        if entry["replaced"] is None or moment - entry["replaced"] <= retire_after_s
    }
    document["active"] = new_kid
    _write_private(path, document)
    return new_kid


class KeyFile:
    """The keyring of a key file, reloaded when the file changes (checked at
    most once per ``check_every_s``), so a rotation needs no restart."""

    def __init__(self, path: Path, *, check_every_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self._check_every_s = check_every_s
        self._clock = clock
        self._stamp: tuple[int, int] | None = None
        self._checked_at = float("-inf")
        self._keyring: Keyring | None = None

    def keyring(self) -> Keyring:
        now = self._clock()
        if self._keyring is None or now - self._checked_at >= self._check_every_s:
            self._checked_at = now
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp or self._keyring is None:
                self._keyring = _keyring(_read_document(self.path))
                self._stamp = stamp
        return self._keyring
