"""Identity continuity: who a legacy token belongs to, for the new services.

Legacy clients send ``Authorization: Token <key>``, a DRF token only the
monolith can resolve. Before a request reaches a new service (mode ``new``,
a canary request that goes to the new side, the shadow copy), the forwarder
asks ``IdentityResolver.header(authorization)`` for the signed
``X-Strangler-Identity`` line (``new_services/platform/identity.py``) and
adds it; the services trust that header and nothing else. The contract is in
``docs/market-write-side.md``.

How the cost stays off the hot path:

* legacy routes, and requests without ``Authorization: Token``, never call
  the resolver (one bytes comparison in the forwarder);
* answers are cached by the SHA-256 of the header value (the token never
  sits in memory as a key), for ``ttl_s`` (default 5 s): a revoked token is
  refused at most ``ttl_s`` after its revocation. The cached value is the
  signed line itself (signed for 60 s, so still fresh when the entry ends);
* concurrent lookups of one token share one call to the monolith;
* the cache is bounded (expired entries go first, then everything).

Failures: the monolith's 401 is an answer (``auth: invalid``, cached like
any other); anything else (unreachable, timeout, 5xx, a body that is not an
identity, an unreadable key file) raises ``IdentityUnavailable`` and the
forwarder answers 503: a request is never forwarded without the identity
its token should carry. Failures are not cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from new_services.platform.identity import HEADER, Identity, Keyring, sign
from strangler_proxy.metrics import Metrics
from strangler_proxy.upstream_port import Upstream, UpstreamError

log = logging.getLogger("strangler_proxy.identity")

IDENTITY_PATH = b"/_internal/identity/"
SERVICE_TOKEN_HEADER = b"x-strangler-service-token"
MAX_ANSWER_BYTES = 64 * 1024
_HEADER_PREFIX = HEADER.encode() + b": "


class IdentityUnavailable(Exception):
    """The identity cannot be known now (the monolith is unreachable or
    answered something unexpected): answer 503, forward nothing."""


def is_token(authorization: bytes) -> bool:
    """Is this ``Authorization`` value DRF's ``Token <key>`` (keyword in any case)?"""
    return authorization[:5].lower() == b"token" and authorization[5:6] in (b" ", b"\t")


class IdentitySource(Protocol):
    """Resolves one ``Authorization`` value: ``Identity(auth="token", ...)``
    or ``Identity(auth="invalid")``; raises ``IdentityUnavailable``."""

    async def resolve(self, authorization: bytes) -> Identity: ...


class MonolithIdentitySource:
    """``GET /_internal/identity/`` on the monolith, through the legacy
    upstream's pool, with the internal service token."""

    def __init__(self, upstream: Upstream, *, host: str, service_token: str, timeout_s: float) -> None:
        self.upstream = upstream
        self._head_start = b"GET " + IDENTITY_PATH + b" HTTP/1.1\r\nhost: " + host.encode("ascii") + b"\r\n"
        self._head_end = (
            SERVICE_TOKEN_HEADER + b": " + service_token.encode("ascii") + b"\r\naccept: application/json\r\n"
            b"content-length: 0\r\n\r\n"
        )
        self.timeout_s = timeout_s

    async def resolve(self, authorization: bytes) -> Identity:
        head = self._head_start + b"authorization: " + authorization + b"\r\n" + self._head_end
        try:
            up = await self.upstream.send(head, b"", head_only=False, timeout=self.timeout_s)
            try:
                body = await up.read_all(MAX_ANSWER_BYTES)
            finally:
                up.release()
        except UpstreamError as exc:
            raise IdentityUnavailable(f"monolith unreachable: {exc}") from exc
        if up.status == 401:
            return Identity(auth="invalid")
        if up.status != 200:
            raise IdentityUnavailable(f"monolith answered {up.status} to the identity lookup")
        return _identity_from_answer(body)


def _identity_from_answer(body: bytes) -> Identity:
    try:
        data: Any = json.loads(body)
    except ValueError as exc:
        raise IdentityUnavailable("identity answer is not JSON") from exc
    if not isinstance(data, dict):
        raise IdentityUnavailable("identity answer is not an object")
    user_id, username = data.get("user_id"), data.get("username")
    player_id, player_status = data.get("player_id"), data.get("player_status")
    if (
        not isinstance(user_id, int)
        or isinstance(user_id, bool)
        or not isinstance(username, str)
        or not (player_id is None or (isinstance(player_id, int) and not isinstance(player_id, bool)))
        or not (player_status is None or isinstance(player_status, str))
    ):
        raise IdentityUnavailable("identity answer lacks user_id/username or has mistyped fields")
    return Identity(auth="token", user_id=user_id, username=username, player_id=player_id, player_status=player_status)


def _retrieve(task: asyncio.Task[bytes]) -> None:
    """Mark a lookup's failure as seen: if every waiter went away, asyncio
    would otherwise log "exception was never retrieved"."""
    if not task.cancelled():
        task.exception()


class RotationGrace:
    """The keyring to sign with, holding back a newly activated key for
    ``grace_s``: a rotation adds the new key and makes it active in one
    write, and every reader notices it within its own check interval (1 s
    for ``KeyFile``). Signing with the previous key (still accepted) until
    then means no service ever sees a key it has not loaded yet.

    ``keys`` is ``KeyFile.keyring``; use an instance as the resolver's
    ``keyring`` callable."""

    def __init__(
        self, keys: Callable[[], Keyring], *, grace_s: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.keys = keys
        self.grace_s = grace_s
        self.clock = clock
        self._active: str | None = None
        self._previous: str | None = None
        self._since = float("-inf")

    def __call__(self) -> Keyring:
        ring = self.keys()
        if ring.active != self._active:
            self._previous = self._active
            self._active = ring.active
            self._since = self.clock()
        previous = self._previous
        if previous is not None and previous in ring.keys and self.clock() - self._since < self.grace_s:
            return Keyring(active=previous, keys=ring.keys)
        return ring


class IdentityResolver:
    """Cached, coalesced ``Authorization`` -> signed identity header line.

    ``keyring`` is called for every signature (``KeyFile.keyring`` reloads a
    rotated file by itself). ``clock`` (monotonic) times the cache, ``wall``
    (epoch seconds) dates the signature; both are injectable for tests."""

    def __init__(
        self,
        source: IdentitySource,
        keyring: Callable[[], Keyring],
        *,
        ttl_s: float = 5.0,
        max_entries: int = 10_000,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.keyring = keyring
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.metrics = metrics
        self.clock = clock
        self.wall = wall
        self._cache: dict[bytes, tuple[float, bytes]] = {}
        self._inflight: dict[bytes, asyncio.Task[bytes]] = {}

    async def header(self, authorization: bytes) -> bytes:
        """The ``x-strangler-identity: ...`` line (no CRLF) for this value of
        ``Authorization``; raises ``IdentityUnavailable``."""
        key = hashlib.sha256(authorization).digest()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._lookup(key, authorization))
            self._inflight[key] = task
            task.add_done_callback(_retrieve)
        # shield: a client that goes away must not cancel the lookup others wait for
        return await asyncio.shield(task)

    async def _lookup(self, key: bytes, authorization: bytes) -> bytes:
        try:
            return await self._resolve_and_sign(key, authorization)
        finally:
            self._inflight.pop(key, None)

    async def _resolve_and_sign(self, key: bytes, authorization: bytes) -> bytes:
        try:
            identity = await self.source.resolve(authorization)
        except IdentityUnavailable as exc:
            self._count("unavailable")
            log.warning("identity lookup failed", extra={"error": str(exc)})
            raise
        try:
            line = _HEADER_PREFIX + sign(identity, self.keyring(), now=self.wall()).encode("ascii")
        except (OSError, ValueError, KeyError) as exc:
            self._count("unavailable")
            log.error("cannot sign the identity header", extra={"error": str(exc)})
            raise IdentityUnavailable(f"cannot sign: {exc}") from exc
        self._count(identity.auth)
        self._store(key, line)
        return line

    def _store(self, key: bytes, line: bytes) -> None:
        if self.ttl_s <= 0:
            return
        now = self.clock()
        if len(self._cache) >= self.max_entries:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= self.max_entries:
                self._cache.clear()
        self._cache[key] = (now + self.ttl_s, line)

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.inc("strangler_identity_lookups_total", (("outcome", outcome),))

    def forget(self) -> None:
        """Drop every cached answer (tests, or an operator after a mass revocation)."""
        self._cache.clear()
