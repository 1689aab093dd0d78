"""Login and sessions: no anonymous read, the token never leaves the server.

A person logs in with the proxy's admin token or the dashboard password
(both compared in constant time) and a name for the audit log. The answer
is a session cookie: ``<payload>.<HMAC>`` signed with a key made when the
process starts (a restart logs everyone out, which is fine for an operator
page and means no key to store). The cookie is ``HttpOnly`` and
``SameSite=Strict``; state-changing requests also need a custom header that
a cross-site form cannot send. Failed logins are throttled per address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass

COOKIE = "strangler_dashboard"
#: The header every POST from the page carries (a cross-site form cannot).
CSRF_HEADER = "x-strangler-dashboard"
SESSION_S = 12 * 3600
#: Failed logins allowed per address in ``FAILURE_WINDOW_S`` before 429.
MAX_FAILURES = 5
FAILURE_WINDOW_S = 60.0
_NAME = re.compile(r"[^A-Za-z0-9._@ -]")


@dataclass(frozen=True)
class Session:
    """Who is logged in (``name`` goes to the audit log as ``name@dashboard``)."""

    name: str
    via: str
    expires: float

    @property
    def actor(self) -> str:
        return f"{self.name}@dashboard"


def clean_name(raw: str) -> str:
    """A name fit for the audit log: printable, short, never empty."""
    name = _NAME.sub("", raw).strip()[:40]
    return name or "operator"


class Authenticator:
    def __init__(self, *, token: str, password: str | None, key: bytes | None = None) -> None:
        self._secrets = [("admin token", token.encode())]
        if password:
            self._secrets.append(("password", password.encode()))
        self._key = key or secrets.token_bytes(32)
        self._failures: dict[str, deque[float]] = {}

    def check(self, given: str) -> str | None:
        """Which secret ``given`` is ("admin token", "password"), or None.
        Every secret is compared, so the time does not say which matched."""
        matched = None
        for via, secret in self._secrets:
            if hmac.compare_digest(given.encode(), secret):
                matched = via
        return matched

    def throttled(self, address: str, now: float | None = None) -> bool:
        """Too many failed logins from ``address`` lately."""
        now = time.monotonic() if now is None else now
        recent = self._failures.get(address)
        while recent and now - recent[0] > FAILURE_WINDOW_S:
            recent.popleft()
        return recent is not None and len(recent) >= MAX_FAILURES

    def failed(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if len(self._failures) > 10_000:  # bounded: forget everyone rather than grow
            self._failures.clear()
        self._failures.setdefault(address, deque(maxlen=MAX_FAILURES)).append(now)

    def issue(self, name: str, via: str, now: float | None = None) -> str:
        """A signed cookie value for a fresh session."""
        expires = (time.time() if now is None else now) + SESSION_S
        payload = base64.urlsafe_b64encode(json.dumps({"n": clean_name(name), "v": via, "e": expires}).encode())
        return f"{payload.decode()}.{self._sign(payload)}"

    def session(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session a cookie proves, or None (missing, forged, expired)."""
        if not cookie or "." not in cookie:
            return None
        payload, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(payload.encode())):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload.encode()))
            session = Session(str(data["n"]), str(data["v"]), float(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > (time.time() if now is None else now) else None

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()
