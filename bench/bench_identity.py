"""Micro-benchmark of what identity continuity adds to one request, in
process (no sockets, so a busy shared machine disturbs it far less than
wrk): prints JSON with nanoseconds per call.

* ``is_token``: the check every request to a new service with an
  ``Authorization`` header pays;
* ``header_cached``: ``IdentityResolver.header`` for a token resolved less
  than the TTL ago (hash + dict lookup + clock), awaited in a running loop;
* ``header_miss``: resolve (an in-memory source) + sign (HMAC-SHA256) + store,
  which a token pays once per TTL;
* ``forward_headers``: rebuilding a typical request's headers (unchanged by
  identity continuity except one more name in the set of dropped headers).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from new_services.platform.identity import Identity, Keyring
from strangler_proxy.headers import Checked, check_request, forward_headers
from strangler_proxy.identity import IdentityResolver, is_token

N = 50_000
REPEATS = 5  # the best of several runs: what the code costs, not what the neighbours did
KEYRING = Keyring("k1", {"k1": b"k" * 32})
WHO = Identity(auth="token", user_id=1, username="bench", player_id=1, player_status="A")


class Source:
    async def resolve(self, authorization: bytes) -> Identity:
        return WHO


def per_call(seconds: float, n: int) -> float:
    return round(seconds / n * 1e9, 1)


async def best_async(call: Callable[[], Awaitable[object]], n: int) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(n):
            await call()
        best = min(best, time.perf_counter() - started)
    return per_call(best, n)


def best(call: Callable[[], object], n: int = N) -> float:
    fastest = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(n):
            call()
        fastest = min(fastest, time.perf_counter() - started)
    return per_call(fastest, n)


async def resolver_costs(token: bytes) -> dict[str, float]:
    cached = IdentityResolver(Source(), lambda: KEYRING, ttl_s=3600)
    await cached.header(token)
    uncached = IdentityResolver(Source(), lambda: KEYRING, ttl_s=0)
    return {
        "header_cached_ns": await best_async(lambda: cached.header(token), N),
        "header_miss_ns": await best_async(lambda: uncached.header(token), N // 10),
    }


def main() -> None:
    out: dict[str, float] = {}
    auth = b"Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
    out["is_token_ns"] = best(lambda: is_token(auth))
    out.update(asyncio.run(resolver_costs(auth)))
    headers = [
        (b"Host", b"shop"),
        (b"User-Agent", b"bench/1.0"),
        (b"Accept", b"application/json"),
        (b"Authorization", auth),
        (b"X-Strangler-Identity", b"v1.k1.forged.forged"),
        (b"Cookie", b"strangler_uid=abc"),
    ]
    checked = check_request("GET", b"/api/items/42/rate/", headers, max_body=1 << 20)
    assert isinstance(checked, Checked)
    rid, tp = b"r" * 32, b"t" * 55
    out["forward_headers_ns"] = best(
        lambda: forward_headers(headers, checked, peer_ip="127.0.0.1", request_id=rid, traceparent=tp)
    )
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
