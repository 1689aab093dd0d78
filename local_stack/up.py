"""``strangler up``: bring the whole local stack up, keep it up, take it down.

The launcher is the composition root of the local stack. It starts each part
as a child process in dependency order, waits until each answers, writes
``endpoints.json`` and then watches the children: if one dies, it stops the
rest and exits non-zero. Stopping (Ctrl-C, SIGTERM, or a child dying) stops
every child it started, in reverse order, and releases the state dir.

Parts replaced by an external server (see ``local_stack.settings``) are
neither started nor stopped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acl.relay_status import read_status
from acl.settings import ConsumerSettings, RelaySettings, SyncbackSettings
from acl.topics import DOMAIN_TOPICS, existing_topics
from local_stack.kafka import EmbeddedKafka
from local_stack.net import port_in_use
from local_stack.postgres import EmbeddedPostgres
from local_stack.processes import ChildFailed, ManagedProcess, http_ok, wait_until
from local_stack.restart_policy import Decision, RestartPolicy
from local_stack.services import NEW_SERVICES, ServiceSpec
from local_stack.settings import StackSettings
from local_stack.state_dir import StateDir
from new_services.platform.settings import ServiceSettings, WriteSideSettings, database_url
from strangler_proxy.settings import ProxySettings
from strangler_settings import EnvSettings

Say = Callable[[str], None]


LEGACY_DATABASE = "smp"
CONTROL_DATABASE = "strangler_control"


class StackError(RuntimeError):
    """The stack cannot start; the message is one line a person can act on."""


@dataclass
class Endpoints:
    """What ``endpoints.json`` says about a running stack."""

    legacy: str = ""
    proxy: str = ""
    #: The proxy's admin API and metrics (their own listener, never the public port).
    proxy_admin: str = ""
    kafka: str | None = None
    dashboard: str | None = None
    databases: dict[str, str] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)
    processes: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "legacy": self.legacy,
            "proxy": self.proxy,
            "proxy_admin": self.proxy_admin,
            "kafka": self.kafka,
            "dashboard": self.dashboard,
            "databases": dict(self.databases),
            "services": dict(self.services),
            "pid": os.getpid(),
            "processes": dict(self.processes),
        }


class LocalStack:
    """The running parts of one ``strangler up``."""

    def __init__(self, settings: StackSettings, *, say: Say = print) -> None:
        self.settings = settings
        self.state = StateDir(settings.state_dir)
        self.say = say
        self.endpoints = Endpoints()
        self.children: list[ManagedProcess] = []
        #: Children restarted when they die (the new services: their state is in
        #: their database, so a restart resumes where they were).
        self.restartable: set[str] = set()
        self.restart_policy = RestartPolicy()
        self.postgres: EmbeddedPostgres | None = None
        self.kafka: EmbeddedKafka | None = None

    # -- start -------------------------------------------------------------

    def start(self) -> Endpoints:
        """Start every part; on any failure stop what was started and raise."""
        self.state.acquire()
        try:
            self._refuse_busy_ports()
            self._start_databases()
            self._prepare_legacy_database()
            self._start_legacy()
            self._start_kafka()
            self._start_cdc()
            self._start_services()
            self._start_proxy()
            self._start_dashboard()
        except BaseException:
            self.stop()
            raise
        self.endpoints.processes = self._pids()
        self.state.write_endpoints(self.endpoints.as_json())
        return self.endpoints

    def _pids(self) -> dict[str, int]:
        pids = {child.name: child.pid for child in self.children if child.pid is not None}
        if self.postgres is not None and self.postgres.pid is not None:
            pids["postgres"] = self.postgres.pid
        if self.kafka is not None and self.kafka.pid is not None:
            pids["kafka"] = self.kafka.pid
        return pids

    def _refuse_busy_ports(self) -> None:
        for part, port in self.settings.ports_to_claim().items():
            if port_in_use(port, self.settings.host):
                raise StackError(
                    f"port {self.settings.host}:{port} ({part}) is already in use; "
                    f"stop whatever holds it or set STRANGLER_{part.upper()}_PORT"
                )

    def _start_databases(self) -> None:
        legacy_url = self.settings.external_legacy_database_url
        control_url = self.settings.external_control_database_url
        if self.settings.needs_embedded_postgres:
            self.say(f"starting PostgreSQL on {self.settings.host}:{self.settings.postgres_port}")
            self.postgres = EmbeddedPostgres(
                self.state.postgres_data,
                port=self.settings.postgres_port,
                log_file=self.state.log("postgres"),
                die_with_parent=True,
            ).start()
            legacy_url = legacy_url or self.postgres.create_database(LEGACY_DATABASE)
            control_url = control_url or self.postgres.create_database(CONTROL_DATABASE)
        assert legacy_url is not None and control_url is not None
        self.endpoints.databases = {"legacy": legacy_url, "control": control_url}
        for spec in NEW_SERVICES:
            self.endpoints.databases[spec.name] = self._service_database(spec)

    def _service_database(self, spec: ServiceSpec) -> str:
        """The service's own database and role: external if its URL is set,
        else created in the embedded cluster with a password kept in the
        state dir."""
        external = self.settings.external_service_database_urls.get(spec.name)
        if external:
            return external
        assert self.postgres is not None
        password = self.state.secret(f"{spec.name}-db-password")
        return self.postgres.create_owned_database(spec.name, password=password)

    def _legacy_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "legacy_monolith.smp.settings",
            "STRANGLER_LEGACY_DATABASE_URL": self.endpoints.databases["legacy"],
            "SMP_SECRET_KEY": self.state.secret("django-secret-key", env_var="SMP_SECRET_KEY"),
            "SMP_STATIC_ROOT": str(self.state.path / "static"),
            # docs/market-write-side.md: the /_internal/ API's service token
            # (shared with the proxy and the market service) and where the
            # monolith reads who owns writes.
            **self.state.identity_env(),
            "STRANGLER_CONTROL_DATABASE_URL": self.endpoints.databases["control"],
        }

    def _manage(self, *args: str, show_output: bool = False) -> None:
        """Run a monolith management command to completion."""
        argv = [sys.executable, "-m", "legacy_monolith.manage", *args]
        if show_output:
            result = subprocess.run(argv, env=self._legacy_env(), stdin=subprocess.DEVNULL, check=False)
            tail = ""
        else:
            result = subprocess.run(argv, env=self._legacy_env(), capture_output=True, text=True, check=False)
            tail = (result.stdout + result.stderr)[-2000:]
        if result.returncode != 0:
            raise StackError(f"`manage.py {' '.join(args)}` failed (exit {result.returncode}){tail and ':'}\n{tail}")

    def _prepare_legacy_database(self) -> None:
        self.say("migrating the legacy database")
        self._manage("migrate", "--noinput")
        self._manage("collectstatic", "--noinput")
        self.state.secret("admin-password")  # generated once, 0600
        self._manage(
            "ensure_superuser", "--username", "admin", "--password-file", str(self.state.path / "admin-password")
        )
        if self.settings.seed_sales:
            self.say(f"seeding the market with {self.settings.seed_sales:,} sales (skipped if already seeded)")
            self._manage(
                "seed_market",
                "--sales",
                str(self.settings.seed_sales),
                "--if-empty",
                "--token-file",
                str(self.state.path / "demo-token"),
                show_output=True,
            )

    def _start_legacy(self) -> None:
        host, port = self.settings.host, self.settings.legacy_port
        url = f"http://{host}:{port}"
        self.say(f"starting the legacy monolith (gunicorn) on {url}")
        legacy = self._spawn(
            "legacy",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "legacy_monolith.smp.wsgi:application",
                "--bind",
                f"{host}:{port}",
                "--workers",
                str(self.settings.legacy_workers),
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "5",
            ],
            env=self._legacy_env(),
        )
        wait_until(http_ok(f"{url}/admin/login/"), timeout=60, what="legacy monolith", watch=legacy)
        self.endpoints.legacy = url

    def _start_kafka(self) -> None:
        if self.settings.external_kafka_bootstrap:
            self.endpoints.kafka = self.settings.external_kafka_bootstrap
            return
        self.say(f"starting the Kafka-compatible broker (Tansu) on {self.settings.host}:{self.settings.kafka_port}")
        self.kafka = EmbeddedKafka(
            self.state.path / "kafka", port=self.settings.kafka_port, die_with_parent=True
        ).start()
        self.endpoints.kafka = self.kafka.bootstrap_servers

    @property
    def cdc_state_dir(self) -> Path:
        return self.state.path / "cdc"

    def _start_cdc(self) -> None:
        """The Debezium relay (legacy rows -> legacy.public.*), the ACL
        consumer group (-> smp.<context>.v1 domain events) and sync-back
        (the market's own events -> legacy rows, logs/syncback.log)."""
        assert self.endpoints.kafka is not None
        relay_settings = RelaySettings.read_env(
            database_url=self.endpoints.databases["legacy"],
            bootstrap_servers=self.endpoints.kafka,
            state_dir=self.cdc_state_dir,
            # Debezium's offsets: a table in the control database, written transactionally
            offsets_database_url=self.endpoints.databases["control"],
        )
        self.say("starting the CDC relay (embedded Debezium)")
        relay = self._spawn("cdc-relay", [sys.executable, "-m", "acl.relay"], env=child_env(relay_settings))
        # The relay's position is in the control database and the ACL's in its
        # consumer group: both resume where they were, so both are restarted.
        self.restartable.add(relay.name)
        wait_until(self._relay_running, timeout=120, what="CDC relay", watch=relay)
        self.say("starting the anti-corruption layer consumer")
        acl_settings = ConsumerSettings.read_env(bootstrap_servers=self.endpoints.kafka)
        acl = self._spawn("acl", [sys.executable, "-m", "acl"], env=child_env(acl_settings))
        self.restartable.add(acl.name)
        wait_until(self._domain_topics_exist, timeout=60, what="ACL consumer", watch=acl, interval=0.5)
        # Sync-back (market events -> legacy rows) keeps its position in the
        # legacy database, so a restart resumes where it was: restarted like
        # the new services.
        self.say("starting sync-back (market events -> legacy tables)")
        syncback_settings = SyncbackSettings.read_env(
            database_url=self.endpoints.databases["legacy"], bootstrap_servers=self.endpoints.kafka
        )
        syncback = self._spawn("syncback", [sys.executable, "-m", "acl.syncback"], env=child_env(syncback_settings))
        self.restartable.add(syncback.name)
        wait_until(self._syncback_ready, timeout=60, what="sync-back", watch=syncback, interval=0.5)

    def _domain_topics_exist(self) -> bool:
        """The ACL creates its topics before it joins its group."""
        assert self.endpoints.kafka is not None
        try:
            return set(DOMAIN_TOPICS) <= existing_topics(self.endpoints.kafka)
        except Exception:
            return False

    def _syncback_ready(self) -> bool:
        """Sync-back creates its offsets table before it reads a record."""
        import psycopg

        try:
            with psycopg.connect(self.endpoints.databases["legacy"], connect_timeout=2) as conn:
                row = conn.execute("SELECT to_regclass('strangler_syncback_offsets')").fetchone()
        except psycopg.Error:
            return False
        return row is not None and row[0] is not None

    def _relay_running(self) -> bool:
        status = read_status(self.cdc_state_dir)
        return status is not None and status["relay"]["state"] == "running"

    def _service_env(self, spec: ServiceSpec) -> dict[str, str]:
        assert self.endpoints.kafka is not None
        settings = ServiceSettings.read_env(
            context={"SERVICE": spec.name.upper()},
            service=spec.name,
            database_url=database_url(self.endpoints.databases[spec.name]),
            port=self.settings.service_ports[spec.name],
            host=self.settings.host,
            bootstrap_servers=self.endpoints.kafka,
            admin_token=self.state.admin_token(),
        )
        # The market's write side (docs/market-write-side.md): the monolith's
        # /_internal/ API, its service token, the identity keys, the owners table.
        write_side = WriteSideSettings.read_env(
            legacy_url=self.endpoints.legacy,
            internal_token=self.state.internal_token(),
            identity_keys=self.state.identity_keys(),
            control_database_url=self.endpoints.databases["control"],
        )
        return {**child_env(settings), **write_side.render_env()}

    def _start_services(self) -> None:
        """Each new service: migrate its database, start its projector and
        its HTTP app. They catch up with the event stream in the background
        (``strangler services list`` shows how far they are)."""
        for spec in NEW_SERVICES:
            env = self._service_env(spec)
            self.say(f"migrating the {spec.name} database")
            migrate = subprocess.run(
                [sys.executable, "-m", spec.module, "migrate"], env=env, capture_output=True, text=True, check=False
            )
            if migrate.returncode != 0:
                tail = (migrate.stdout + migrate.stderr).strip().splitlines()[-1:] or ["no output"]
                raise StackError(f"{spec.name}: migration failed (exit {migrate.returncode}): {tail[0]}")
            url = f"http://{self.settings.host}:{self.settings.service_ports[spec.name]}"
            self.say(f"starting {spec.name} on {url} (projector + HTTP)")
            projector = self._spawn(f"{spec.name}-projector", [sys.executable, "-m", spec.module, "project"], env=env)
            api = self._spawn(spec.name, [sys.executable, "-m", spec.module, "serve"], env=env)
            self.restartable |= {projector.name, api.name}
            wait_until(http_ok(f"{url}/healthz"), timeout=60, what=spec.name, watch=api)
            projector.check_alive()
            self.endpoints.services[spec.name] = url

    def _start_proxy(self) -> None:
        host, port, admin_port = self.settings.host, self.settings.proxy_port, self.settings.proxy_admin_port
        url, admin_url = f"http://{host}:{port}", f"http://{host}:{admin_port}"
        self.say(f"starting the strangler proxy on {url} (admin API and metrics on {admin_url})")
        settings = ProxySettings.read_env(
            host=host,
            port=port,
            admin_host=host,
            admin_port=admin_port,
            legacy_url=self.endpoints.legacy,
            services=dict(self.endpoints.services),
            control_database_url=self.endpoints.databases["control"],
            admin_token=self.state.admin_token(),
            identity_keys=str(self.state.identity_keys()),
            internal_token=self.state.internal_token(),
        )
        proxy = self._spawn("proxy", [sys.executable, "-m", "strangler_proxy"], env=child_env(settings))
        wait_until(http_ok(f"{admin_url}/_strangler/health"), timeout=60, what="strangler proxy", watch=proxy)
        self.endpoints.proxy = url
        self.endpoints.proxy_admin = admin_url

    def _start_dashboard(self) -> None:
        """The web dashboard (``strangler dashboard serve``, the command the
        distributed deployment runs too), reading the admin API, the relay's
        status, the broker and the services; stateless, so restarted like a
        service. Login: the admin token or ``<state-dir>/dashboard-password``."""
        from strangler_dashboard.settings import DashboardSettings

        host, port = self.settings.host, self.settings.dashboard_port
        url = f"http://{host}:{port}"
        self.say(f"starting the dashboard on {url}/")
        settings = DashboardSettings.read_env(
            host=host,
            port=port,
            proxy_admin_url=self.endpoints.proxy_admin,  # the admin listener, never the public port
            admin_token=self.state.admin_token(),
            password=self.state.secret("dashboard-password", env_var="STRANGLER_DASHBOARD_PASSWORD"),
            services=dict(self.endpoints.services),
            kafka_bootstrap=self.endpoints.kafka,
            cdc_state_dir=self.cdc_state_dir,
            legacy_database_url=self.endpoints.databases["legacy"],
            control_database_url=self.endpoints.databases["control"],
            service_database_urls={s.name: self.endpoints.databases[s.name] for s in NEW_SERVICES},
            plan_file=self._plan_file(),
        )
        argv = [sys.executable, "-m", "strangler_cli", "dashboard", "serve", "--state-dir", str(self.state.path)]
        dashboard = self._spawn("dashboard", argv, env=child_env(settings))
        self.restartable.add(dashboard.name)
        wait_until(http_ok(f"{url}/healthz"), timeout=60, what="dashboard", watch=dashboard)
        self.endpoints.dashboard = url

    @staticmethod
    def _plan_file() -> Path | None:
        """The plan the dashboard shows: ``STRANGLER_PLAN_FILE``, else
        ``migration-plan.yaml`` where ``strangler up`` runs (as ``strangler
        plan`` finds it), else none (the board is then the proxy's routes)."""
        named = os.environ.get("STRANGLER_PLAN_FILE")
        found = Path(named) if named else Path("migration-plan.yaml")
        return found.resolve() if found.is_file() else None

    def _spawn(self, name: str, argv: list[str], *, env: dict[str, str]) -> ManagedProcess:
        child = ManagedProcess(name, argv, log_file=self.state.log(name), env=env).start()
        self.children.append(child)
        return child

    # -- run and stop ---------------------------------------------------------

    def watch(self, *, poll_interval: float = 0.5) -> None:
        """Block while every child is alive; raise ``ChildFailed`` if one dies
        for good (a signal handler ends the wait by raising). A part that
        dies is restarted, the way a service supervisor would, with a growing
        delay, and given up on only if it keeps dying (``restart_policy``)."""
        while True:
            self._restart_embedded_servers()
            for child in self.children:
                if child.name in self.restartable and child.exit_code is not None:
                    self._restart(child)
                if child.name not in self.restartable or child.exit_code is None:
                    child.check_alive()
            time.sleep(poll_interval)

    def _restart(self, child: ManagedProcess) -> None:
        if not self._restart_when_due(child.name, child.exit_code, child.start):
            child.check_alive()  # raises ChildFailed with its log tail

    def _restart_embedded_servers(self) -> None:
        """PostgreSQL and the broker, when embedded, are restarted like the
        other parts: a database restart or crash, or a broker that went away,
        is a fault the stack rides out (the proxy keeps its route table, the
        others reconnect; after the broker's loss of its memory storage the
        relay re-snapshots and the consumers replay; docs/resilience.md).
        Restarted in place: same port, same data directory."""
        servers: list[tuple[str, EmbeddedPostgres | EmbeddedKafka | None]] = [
            ("postgres", self.postgres),
            ("kafka", self.kafka),
        ]
        for name, server in servers:
            if server is None or server.exit_code is None:
                continue
            if not self._restart_when_due(name, server.exit_code, server.restart):
                raise ChildFailed(f"{name} keeps exiting (code {server.exit_code}); giving up")

    def _restart_when_due(self, name: str, exit_code: int | None, start: Callable[[], object]) -> bool:
        """Restart the dead part ``name`` with ``start`` once its back-off
        has passed (``restart_policy``); False when the policy gives up on it."""
        decision = self.restart_policy.decide(name, time.monotonic())
        if decision is Decision.RESTART:
            self.say(f"{name} exited with code {exit_code}; restarting it")
            start()
            self.restart_policy.restarted(name, time.monotonic())
            # a part has a new pid: endpoints.json says so (tests and `strangler status` read it)
            self.endpoints.processes = self._pids()
            self.state.write_endpoints(self.endpoints.as_json())
        return decision is not Decision.GIVE_UP

    def stop(self) -> None:
        """Stop every started part, newest first. Safe to call twice."""
        while self.children:
            child = self.children.pop()
            self.say(f"stopping {child.name}")
            child.stop()
        if self.kafka is not None:
            self.say("stopping the broker")
            self.kafka.stop()
            self.kafka = None
        if self.postgres is not None:
            self.say("stopping PostgreSQL")
            self.postgres.stop()
            self.postgres = None
        self.state.clear_endpoints()
        self.state.release()


def child_env(settings: EnvSettings) -> dict[str, str]:
    """A child's environment: ours (so unset tuning variables keep reaching
    it), then the variables that make it read ``settings``. Build
    ``settings`` with ``read_env(field=value, ...)``: the fields the launcher
    decides are given, the others are read from our environment."""
    return {**os.environ, **settings.render_env()}


__all__ = ["ChildFailed", "Endpoints", "LocalStack", "StackError"]
