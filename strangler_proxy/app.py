"""Composition root of one proxy process: ``ProxyApp.start()`` wires the
store, route commands, upstream pools, breakers, shadow runner, and two
listeners: the public one (the forwarder) and the admin one (admin API and
metrics, ``admin_server``; loopback by default, never the public port).
``stop()`` drains. Nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import logging
import os
import resource
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from new_services.platform.identity import IdentityError, KeyFile
from strangler_proxy.admin import AdminApi
from strangler_proxy.admin_server import AdminDoor, AuthThrottle
from strangler_proxy.breaker import CircuitBreaker
from strangler_proxy.forwarding import Forwarder
from strangler_proxy.health import RouteHealth
from strangler_proxy.identity import IdentityResolver, MonolithIdentitySource, RotationGrace
from strangler_proxy.metrics import Metrics, render
from strangler_proxy.route_commands import AutoRollBack, RouteCommands
from strangler_proxy.routing import Mode, RouteTable, TableError, TableHolder
from strangler_proxy.server import ClientConnection, ServerLimits
from strangler_proxy.settings import ProxySettings
from strangler_proxy.shadow import Mismatch, ShadowRunner
from strangler_proxy.store import RouteStore, Unchanged, Version
from strangler_proxy.upstream import UpstreamPool
from strangler_proxy.upstream_port import Upstream

log = logging.getLogger("strangler_proxy.app")


#: Open connections to the admin listener per process (operators and scrapers, not traffic).
ADMIN_CONNECTIONS = 64
#: File descriptors kept back from client connections: upstream pools, the control database, logs.
RESERVED_FDS = 64


def connection_cap(configured: int) -> int:
    """The configured client connection cap, lowered to what the process's
    file descriptor limit can hold: every proxied connection may need an
    upstream one too, so half of what is left after the reserve. Past that,
    ``accept`` would fail with EMFILE and the proxy would stop answering at
    all; under the cap, one connection too many gets a 503."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    fits = max(1, (soft - RESERVED_FDS) // 2)
    if fits < configured:
        log.warning(
            "client connection cap lowered to fit the file descriptor limit",
            extra={"configured": configured, "cap": fits, "nofile": soft},
        )
    return min(configured, fits)


class ProxyApp:
    def __init__(self, settings: ProxySettings, *, sock: socket.socket | None = None) -> None:
        self.settings = settings
        self.sock = sock
        self.services = sorted(settings.services)
        self.store = RouteStore(settings.control_database_url)
        self.commands = RouteCommands(self.store, self.services, self.apply_version)
        self.metrics = Metrics()
        self.health = RouteHealth()
        self.holder = TableHolder(RouteTable([], 0))
        self.stop_event = asyncio.Event()
        self.tasks: list[asyncio.Task[Any]] = []
        self.server: asyncio.AbstractServer | None = None
        self.admin_server: asyncio.AbstractServer | None = None
        self.forwarder: Forwarder | None = None
        self.connections: set[ClientConnection] = set()
        self.admin_connections: set[ClientConnection] = set()
        self.ready = False
        self._apply_lock = asyncio.Lock()
        self._rolled_back: set[tuple[str, int]] = set()
        self._refused_version = 0

    # -- route table ----------------------------------------------------------------
    async def apply_version(self, version: Version) -> None:
        """Swap the live table if ``version`` is newer; an invalid stored
        table (e.g. a service this process does not know) is refused and the
        live one stays."""
        async with self._apply_lock:
            if version.version <= self.holder.table.version:
                return
            try:
                table = RouteTable.from_spec(version.spec, self.services, version.version)
            except TableError as exc:
                if version.version == self._refused_version:
                    return
                self._refused_version = version.version
                log.error(
                    "stored route table refused; keeping the live one",
                    extra={"version": version.version, "problems": exc.problems},
                )
                return
            old = self.holder.table
            self.holder.table = table
            self.metrics.set("strangler_route_table_version", (), version.version)
            for route in table.routes:
                prev = next((r for r in old.routes if r.key == route.key), None)
                if prev is None or prev.mode != route.mode:
                    self.health.forget(route.key)
            log.info("route table live", extra={"version": version.version, "routes": len(table.routes)})

    async def _on_version(self, number: int) -> None:
        if number > self.holder.table.version:
            version = await self.store.get(number)
            if version is not None:
                await self.apply_version(version)

    # -- wiring -------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        await self.store.open()
        await self.apply_version(await self.store.latest())
        pools: dict[str, Upstream] = {"legacy": UpstreamPool("legacy", s.legacy_url)}
        for name, url in s.services.items():
            pools[name] = UpstreamPool(name, url)
        breakers = {name: CircuitBreaker() for name in s.services}
        identity = self._identity_resolver(pools["legacy"])
        shadow = ShadowRunner(
            pools,
            self.metrics,
            max_inflight=s.shadow_max_inflight,
            max_body=s.shadow_max_body,
            on_mismatch=self._store_mismatch,
            on_result=self.health.record_shadow,
            identity=identity,
        )
        self.forwarder = Forwarder(
            s, self.holder, pools, breakers, self.metrics, shadow, self.health, identity=identity
        )
        admin = AdminApi(
            token=s.admin_token,
            commands=self.commands,
            routes=self.store,
            mismatches=self.store,
            live_version=lambda: self.holder.table.version,
            metrics_text=self.metrics_text,
            status=self.status,
        )
        await self._listen_public(self.forwarder)
        await self._listen_admin(admin)
        loop = asyncio.get_running_loop()
        self.tasks.append(loop.create_task(self.store.listen(self._on_version, self.stop_event)))
        self.tasks.append(loop.create_task(self._watch_limits()))
        if s.metrics_dir:
            self.tasks.append(loop.create_task(self._write_metrics()))
        self.ready = True
        log.info(
            "proxy listening",
            extra={
                "host": s.host,
                "port": s.port,
                "admin": f"{s.admin_host}:{s.admin_port}",
                "legacy": s.legacy_url,
                "services": s.services,
                "version": self.holder.table.version,
            },
        )

    def _limits(self, max_connections: int) -> ServerLimits:
        s = self.settings
        return ServerLimits(
            s.max_body_bytes,
            s.max_header_bytes,
            s.max_headers,
            header_timeout=s.header_timeout_s,
            body_timeout=s.body_timeout_s,
            idle_timeout=s.keepalive_timeout_s,
            max_connections=max_connections,
        )

    async def _listen_public(self, fw: Forwarder) -> None:
        """The front door, on the configured address (or a given socket)."""
        s = self.settings
        loop = asyncio.get_running_loop()
        limits = self._limits(connection_cap(s.max_connections))
        connections = self.connections

        def connection() -> ClientConnection:
            return ClientConnection(fw, limits, connections)

        if self.sock is not None:
            self.server = await loop.create_server(connection, sock=self.sock, backlog=2048)
        else:
            self.server = await loop.create_server(connection, s.host, s.port, backlog=2048, reuse_port=s.workers > 1)

    async def _listen_admin(self, admin: AdminApi) -> None:
        """The admin API and metrics on their own address (every worker
        listens there too, with SO_REUSEPORT, like the public port)."""
        s = self.settings
        loop = asyncio.get_running_loop()
        throttle = AuthThrottle(burst=s.admin_auth_burst, refill_s=s.admin_auth_refill_s)
        door = AdminDoor(admin, throttle, on_refused=self.forwarder_refused)
        limits = self._limits(ADMIN_CONNECTIONS)
        connections = self.admin_connections

        def connection() -> ClientConnection:
            return ClientConnection(door, limits, connections)

        self.admin_server = await loop.create_server(
            connection, s.admin_host, s.admin_port, backlog=128, reuse_port=s.workers > 1
        )

    def forwarder_refused(self, status: int, reason: str) -> None:
        """Count the admin listener's refusals with the public ones."""
        if self.forwarder is not None:
            self.forwarder.refused(status, reason)

    def _identity_resolver(self, legacy: Upstream) -> IdentityResolver | None:
        """The token resolver, or None (with a warning) when identity
        settings are absent. An unreadable key file stops the start."""
        s = self.settings
        if not s.identity_keys or not s.internal_token:
            log.warning("identity continuity off: STRANGLER_IDENTITY_KEYS/STRANGLER_INTERNAL_TOKEN not set")
            return None
        keys = KeyFile(Path(s.identity_keys))
        try:
            keys.keyring()
        except (OSError, IdentityError) as exc:
            raise RuntimeError(f"STRANGLER_IDENTITY_KEYS: cannot read {s.identity_keys}: {exc}") from exc
        source = MonolithIdentitySource(
            legacy,
            host=urlsplit(s.legacy_url).netloc,
            service_token=s.internal_token,
            timeout_s=s.identity_timeout_s,
        )
        signing = RotationGrace(keys.keyring)
        return IdentityResolver(source, signing, ttl_s=s.identity_ttl_s, metrics=self.metrics)

    async def _store_mismatch(self, m: Mismatch) -> None:
        await self.store.record_mismatch(m)

    def metrics_text(self) -> str:
        d = self.settings.metrics_dir
        if not d:
            return render({str(os.getpid()): self.metrics.snapshot()})
        self.metrics.write_snapshot(Path(d), str(os.getpid()))
        snaps: dict[str, Any] = {}
        for f in glob.glob(os.path.join(d, "*.json")):
            try:
                snaps[Path(f).stem] = json.loads(Path(f).read_text())
            except (OSError, ValueError):
                continue
        return render(snaps)

    def status(self) -> dict[str, Any]:
        fw = self.forwarder
        assert fw is not None
        return {
            "pid": os.getpid(),
            "live_version": self.holder.table.version,
            "breakers": {k: b.state for k, b in fw.breakers.items()},
            "shadow_noise": {k: sorted(v) for k, v in fw.shadow.noise.items()},
            "connections": len(self.connections),
            "inflight": fw.inflight,
        }

    async def _write_metrics(self) -> None:
        d = Path(str(self.settings.metrics_dir))
        while not self.stop_event.is_set():
            with contextlib.suppress(OSError):
                self.metrics.write_snapshot(d, str(os.getpid()))
            await asyncio.sleep(1.0)

    async def _watch_limits(self) -> None:
        """Once a second: flip routes over their limits back to a safe mode."""
        while not self.stop_event.is_set():
            await asyncio.sleep(1.0)
            table = self.holder.table
            for route, reason in self.health.breaches(table):
                marker = (route.key, table.version)
                if marker in self._rolled_back:
                    continue
                self._rolled_back.add(marker)
                await self._auto_rollback(route.key, route.mode, reason)

    async def _auto_rollback(self, key: str, mode: Mode, reason: str) -> None:
        command = AutoRollBack(key, mode, reason, actor=f"strangler-proxy/{os.getpid()} (auto-rollback)")
        try:
            changed = await self.commands.handle(command)
        except (Unchanged, TableError):
            return
        except Exception:
            log.exception("auto-rollback failed", extra={"route": key})
            return
        self.metrics.inc("strangler_auto_rollbacks_total", (("route", key),))
        log.warning(
            "auto-rollback", extra={"route": key, "from": mode, "reason": reason, "version": changed.new.version}
        )

    # -- shutdown -----------------------------------------------------------------------
    async def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, let in-flight requests finish (up to ``grace``),
        then close everything."""
        self.stop_event.set()
        if self.server is not None:
            self.server.close()
        if self.admin_server is not None:
            self.admin_server.close()
        for c in list(self.admin_connections):
            c.close()
        fw = self.forwarder
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        if fw is not None:
            while loop.time() < deadline:
                for c in list(self.connections):
                    if not c.queue:
                        c.close()
                if fw.inflight == 0 and not any(c.queue for c in self.connections):
                    break
                await asyncio.sleep(0.02)
            for c in list(self.connections):
                c.close()
            await fw.shadow.wait_idle(max(0.0, min(2.0, deadline - loop.time())))
            for pool in fw.upstreams.values():
                pool.close()
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.store.close()
        log.info("proxy stopped")
