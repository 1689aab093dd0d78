"""docker-compose.yml is for users with Docker; we check it by parsing it.

The checks are the mistakes that would only show on a user's machine: a
command naming a module that doesn't exist, a database without logical
decoding, a literal secret, a connector file that isn't there.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _command_words(service: dict) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else list(command)


def test_every_part_of_the_distributed_stack_is_there() -> None:
    assert {
        "legacy-db",
        "control-db",
        "legacy",
        "proxy",
        "kafka",
        "connect",
        "acl",
        "pricing-db",
        "pricing-migrate",
        "pricing-projector",
        "pricing",
    } <= set(SERVICES)


def test_legacy_database_has_logical_decoding() -> None:
    assert "wal_level=logical" in _command_words(SERVICES["legacy-db"])


@pytest.mark.parametrize("name", ["legacy", "proxy", "acl", "pricing-migrate", "pricing-projector", "pricing"])
def test_python_modules_named_by_commands_exist(name: str) -> None:
    words = _command_words(SERVICES[name])
    modules = [words[i + 1] for i, word in enumerate(words) if word == "-m"]
    modules += [w.split(":")[0] for w in words if re.fullmatch(r"[a-z_.]+:[a-z_]+", w)]
    assert modules, f"{name} runs no python module"
    for module in modules:
        assert importlib.util.find_spec(module) is not None, f"{name}: no module {module}"


def test_proxy_runs_several_replicas_and_acl_scales_out() -> None:
    assert SERVICES["proxy"]["deploy"]["replicas"] >= 2
    assert SERVICES["acl"]["deploy"]["replicas"] >= 2


def test_no_literal_secrets() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for line in text.splitlines():
        if re.search(r"(PASSWORD|TOKEN|SECRET_KEY)\s*:", line):
            assert "${" in line, f"literal secret in docker-compose.yml: {line.strip()}"


def test_connect_registers_the_connector_file_from_the_repo() -> None:
    register = " ".join(_command_words(SERVICES["connect-register"]))
    match = re.search(r"@/deploy/(\S+)", register)
    assert match, "connect-register posts no file"
    config = json.loads((ROOT / "deploy" / match.group(1)).read_text())
    config = config.get("config", config)
    assert config["connector.class"] == "io.debezium.connector.postgresql.PostgresConnector"
    assert config["plugin.name"] == "pgoutput"
    assert config["topic.prefix"] == "legacy"
    tables = set(config["table.include.list"].split(","))
    assert tables == {f"public.{t}" for t in ("smp_plyr", "smp_wlt", "smp_inv", "smp_itm", "smp_lst", "smp_sale")}


def test_pricing_has_its_own_database_and_the_proxy_knows_it() -> None:
    url = SERVICES["pricing"]["environment"]["STRANGLER_PRICING_DATABASE_URL"]
    assert "@pricing-db:" in url and "${PRICING_DB_PASSWORD" in url
    services = json.loads(SERVICES["proxy"]["environment"]["STRANGLER_SERVICES"])
    assert services == {"pricing": "http://pricing:8010"}
    assert (
        SERVICES["pricing-projector"]["depends_on"]["pricing-migrate"]["condition"] == "service_completed_successfully"
    )


def test_the_pricing_settings_read_every_variable_compose_sets() -> None:
    from new_services.pricing.settings import PricingSettings

    env = {
        k: v.replace("${PRICING_DB_PASSWORD:?set PRICING_DB_PASSWORD}", "pw").replace(
            "${STRANGLER_ADMIN_TOKEN:?set STRANGLER_ADMIN_TOKEN}", "token"
        )
        for k, v in SERVICES["pricing"]["environment"].items()
    }
    settings = PricingSettings.from_env(env).service
    assert (settings.host, settings.port, settings.bootstrap_servers) == ("0.0.0.0", 8010, "kafka:9092")
    assert settings.database_url.host == "pricing-db" and settings.admin_token == "token"
