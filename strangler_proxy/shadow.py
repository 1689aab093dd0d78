"""Shadow traffic: after legacy has answered the client, send the same
request to the new service and compare the two answers.

Off the critical path by construction: ``submit`` only schedules a task,
called after the client's response was written; a bounded number of shadow
calls run at once and the rest are skipped (counted), so a slow new service
can never build up memory or delay clients. Only GET/HEAD are shadowed
unless the route sets ``shadow_unsafe``.

The copy sent to the new service carries the signed identity of the
client's token (``identity.py``), as a request served by the new service
would; legacy's second call does not. When the identity cannot be resolved
the copy is skipped.

Noise learning (Diffy): when a comparison finds differences on a safe
request, legacy is asked a second time; fields that differ between the two
legacy answers are noise for that route from then on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from strangler_proxy.diff import Comparison, IgnoreRules, compare, learn_noise
from strangler_proxy.identity import IdentityResolver, IdentityUnavailable, is_token
from strangler_proxy.metrics import Metrics
from strangler_proxy.routing import SAFE_METHODS, Route
from strangler_proxy.upstream_port import Upstream, UpstreamError

log = logging.getLogger("strangler_proxy.shadow")

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Mismatch:
    route: str
    request_id: str
    method: str
    target: str
    legacy: Answer
    new: Answer
    differences: list[dict[str, Any]] = field(default_factory=list)
    noise: list[str] = field(default_factory=list)


def _hdict(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}


class ShadowRunner:
    def __init__(
        self,
        pools: Mapping[str, Upstream],
        metrics: Metrics,
        *,
        max_inflight: int,
        max_body: int,
        on_mismatch: Callable[[Mismatch], Awaitable[None]],
        on_result: Callable[[str, bool], None],
        identity: IdentityResolver | None = None,
    ) -> None:
        self.pools = pools
        self.identity = identity
        self.metrics = metrics
        self.max_inflight = max_inflight
        self.max_body = max_body
        self.on_mismatch = on_mismatch
        self.on_result = on_result
        self.noise: dict[str, set[str]] = {}
        self._ignore: dict[tuple[str, ...], IgnoreRules] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def _count(self, route: str, outcome: str) -> None:
        self.metrics.inc("strangler_shadow_total", (("route", route), ("outcome", outcome)))

    def submit(
        self,
        route: Route,
        method: str,
        target: bytes,
        lines: list[bytes],
        body: bytes,
        legacy: tuple[int, list[tuple[bytes, bytes]], bytes],
        request_id: bytes,
        *,
        authorization: bytes | None = None,
    ) -> None:
        if len(self.tasks) >= self.max_inflight or route.service not in self.pools:
            self._count(route.key, "skipped")
            return
        task = asyncio.get_running_loop().create_task(
            self._run(route, method, target, lines, body, legacy, request_id.decode(), authorization)
        )
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _call(
        self, upstream: Upstream, method: str, target: bytes, lines: list[bytes], body: bytes, timeout: float
    ) -> Answer:
        head = b"".join(
            [
                method.encode(),
                b" ",
                target,
                b" HTTP/1.1\r\n",
                b"\r\n".join(lines),
                b"\r\nx-strangler-shadow: 1\r\ncontent-length: %d\r\n\r\n" % len(body),
            ]
        )
        up = await upstream.send(head, body, head_only=method == "HEAD", timeout=timeout)
        try:
            data = await up.read_all(self.max_body)
        finally:
            up.release()
        return up.status, _hdict(up.headers), data

    async def _run(
        self,
        route: Route,
        method: str,
        target: bytes,
        lines: list[bytes],
        body: bytes,
        legacy_raw: tuple[int, list[tuple[bytes, bytes]], bytes],
        request_id: str,
        authorization: bytes | None = None,
    ) -> None:
        key = route.key
        legacy: Answer = (legacy_raw[0], _hdict(legacy_raw[1]), legacy_raw[2])
        new_lines = lines
        if authorization is not None and self.identity is not None and is_token(authorization):
            try:
                new_lines = [*lines, await self.identity.header(authorization)]
            except IdentityUnavailable:
                # Never send the copy without the identity its token should carry.
                self._count(key, "skipped")
                return
        started = time.monotonic()
        try:
            new = await self._call(self.pools[str(route.service)], method, target, new_lines, body, route.timeout_s)
        except UpstreamError as exc:
            self._count(key, "error")
            self.on_result(key, True)
            log.info("shadow call failed", extra={"request_id": request_id, "route": key, "error": str(exc)})
            return
        # The new side's latency while it is only shadowed: what the migration
        # plan's p99 gates compare with legacy's before any client depends on it.
        self.metrics.observe(
            "strangler_shadow_duration_seconds",
            (("route", key), ("upstream", str(route.service))),
            time.monotonic() - started,
        )
        if (
            legacy[0] == new[0]
            and legacy[2] == new[2]
            and all(legacy[1].get(h) == new[1].get(h) for h in route.compare_headers)
        ):
            # Byte-identical answers: skip decoding and walking the JSON.
            self._count(key, "match")
            self.on_result(key, False)
            return
        result = self._compare(route, legacy, new)
        if result.differences and method in SAFE_METHODS:
            try:
                again = await self._call(self.pools["legacy"], method, target, lines, body, route.timeout_s)
            except UpstreamError:
                again = None
            if again is not None:
                known = self.noise.setdefault(key, set())
                learned = learn_noise(legacy, again) - known
                if learned:
                    known.update(learned)
                    log.info("shadow noise learned", extra={"route": key, "fields": sorted(learned)})
                # Compare again even when this call learned nothing: a concurrent
                # comparison of the same route may have learned the noise meanwhile.
                result = self._compare(route, legacy, new)
        if result.differences:
            self._count(key, "mismatch")
            self.on_result(key, True)
            mismatch = Mismatch(
                route=key,
                request_id=request_id,
                method=method,
                target=target.decode("latin-1"),
                legacy=legacy,
                new=new,
                differences=[d.to_json() for d in result.differences],
                noise=sorted({d.path for d in result.noise}),
            )
            log.info(
                "shadow mismatch",
                extra={"request_id": request_id, "route": key, "fields": [d.path for d in result.differences][:20]},
            )
            try:
                await self.on_mismatch(mismatch)
            except Exception:  # storage trouble must not kill shadowing
                log.exception("could not store mismatch")
        else:
            self._count(key, "noise" if result.noise else "match")
            self.on_result(key, False)

    def _compare(self, route: Route, legacy: Answer, new: Answer) -> Comparison:
        rules = self._ignore.get(route.ignore)
        if rules is None:
            rules = self._ignore[route.ignore] = IgnoreRules(route.ignore)
        return compare(legacy, new, headers=route.compare_headers, ignore=rules, noise=self.noise.get(route.key, set()))

    async def wait_idle(self, timeout: float) -> None:
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)
