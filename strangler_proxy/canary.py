"""Sticky, monotonic canary bucketing.

Each user gets a fixed bucket in [0, 10000) per route from a keyed hash of
their identity; they go to the new service when ``bucket < weight * 100``.
Because the bucket never changes, raising the weight only ever moves users
from legacy to new, and lowering it only moves them back.

Identity: the ``Authorization`` header if present (hashed, never stored or
logged), else the ``strangler_uid`` cookie, which the proxy sets for
anonymous clients on their first canary-routed request.
"""

from __future__ import annotations

import hashlib
import secrets

COOKIE = "strangler_uid"


def bucket(identity: str, route_key: str) -> int:
    digest = hashlib.blake2b(identity.encode(), key=route_key.encode()[:64], digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10000


def goes_to_new(identity: str, route_key: str, weight: int) -> bool:
    return bucket(identity, route_key) < weight * 100


def cookie_value(cookie_header: str | None) -> str | None:
    """Our uid from a Cookie header, None if absent or malformed."""
    if not cookie_header:
        return None
    for part in cookie_header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and 8 <= len(value) <= 64 and value.isalnum():
            return value
    return None


def identity_of(authorization: str | None, cookie_header: str | None) -> tuple[str, str | None]:
    """(identity, new cookie uid to set or None)."""
    if authorization:
        return "auth:" + authorization, None
    uid = cookie_value(cookie_header)
    if uid:
        return "uid:" + uid, None
    uid = secrets.token_hex(16)
    return "uid:" + uid, uid


def set_cookie_header(uid: str) -> bytes:
    return f"{COOKIE}={uid}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax".encode()
