"""Real parts for the OpenAPI contract test: a seeded monolith under
gunicorn, the strangler proxy in front of it, and schemathesis' CLI.

Started the way ``strangler up`` starts them (``local_stack.up``): same
management commands, same environment variables, same process helpers. A
uniquely named module (not a ``conftest``) so test modules import it
directly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_stack.net import LOOPBACK, free_port
from local_stack.processes import ManagedProcess, http_ok, wait_until
from strangler_proxy.settings import ProxySettings

REPO = Path(__file__).resolve().parents[3]
ADMIN_TOKEN = "openapi-contract-admin-token-0123456789"


@dataclass(frozen=True)
class MonolithBehindProxy:
    legacy_url: str
    proxy_url: str
    demo_token: str
    logs: tuple[ManagedProcess, ...]

    @property
    def schema_url(self) -> str:
        return f"{self.proxy_url}/api/schema/"

    def log_tails(self) -> str:
        return "\n".join(f"--- {p.name} ({p.log_file}) ---\n{p.log_tail(4000)}" for p in self.logs)


def _manage(env: dict[str, str], *args: str) -> str:
    """Run a monolith management command to completion; its output on failure."""
    result = subprocess.run(
        [sys.executable, "-m", "legacy_monolith.manage", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@contextmanager
def monolith_behind_proxy(postgres_server: Any, work_dir: Path, *, sales: int = 2000) -> Iterator[MonolithBehindProxy]:
    """A migrated, seeded monolith (own database) under gunicorn, and the
    proxy (own control database, no services: every route is ``legacy``)."""
    suffix = uuid.uuid4().hex[:10]
    legacy_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "legacy_monolith.smp.settings",
        "STRANGLER_LEGACY_DATABASE_URL": postgres_server.create_database(f"smp_openapi_{suffix}"),
        "SMP_SECRET_KEY": f"openapi-contract-{uuid.uuid4().hex}",
        "SMP_STATIC_ROOT": str(work_dir / "static"),
    }
    _manage(legacy_env, "migrate", "--noinput")
    token_file = work_dir / "demo-token"
    _manage(
        legacy_env,
        "seed_market",
        "--sales",
        str(sales),
        "--rng-seed",
        "7",
        "--no-progress",
        "--token-file",
        str(token_file),
    )
    demo_token = token_file.read_text().strip()

    with ExitStack() as stack:
        legacy_port = free_port()
        legacy_url = f"http://{LOOPBACK}:{legacy_port}"
        legacy = ManagedProcess(
            "legacy",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "legacy_monolith.smp.wsgi:application",
                "--bind",
                f"{LOOPBACK}:{legacy_port}",
                "--workers",
                "2",
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "--graceful-timeout",
                "2",
            ],
            log_file=work_dir / "legacy.log",
            env=legacy_env,
            cwd=REPO,
        ).start()
        stack.callback(legacy.stop)
        wait_until(http_ok(f"{legacy_url}/api/schema/"), timeout=60, what="legacy monolith", watch=legacy)

        proxy_port = free_port()
        proxy_url = f"http://{LOOPBACK}:{proxy_port}"
        admin_url = f"http://{LOOPBACK}:{(admin_port := free_port())}"
        settings = ProxySettings(
            host=LOOPBACK,
            port=proxy_port,
            admin_host=LOOPBACK,
            admin_port=admin_port,
            legacy_url=legacy_url,
            services={},
            control_database_url=postgres_server.create_database(f"control_openapi_{suffix}"),
            admin_token=ADMIN_TOKEN,
        )
        proxy = ManagedProcess(
            "proxy",
            [sys.executable, "-m", "strangler_proxy"],
            log_file=work_dir / "proxy.log",
            env={**os.environ, **settings.render_env()},
            cwd=REPO,
        ).start()
        stack.callback(proxy.stop)
        wait_until(http_ok(f"{admin_url}/_strangler/health"), timeout=60, what="strangler proxy", watch=proxy)
        wait_until(http_ok(f"{proxy_url}/api/schema/"), timeout=30, what="schema through the proxy", watch=proxy)

        yield MonolithBehindProxy(legacy_url, proxy_url, demo_token, (legacy, proxy))


# The one narrowing of a check, per operation, each with its reason.
#
# positive_data_acceptance says: data valid against the schema must not get a
# 400. On these operations the monolith rightly answers 400 to some such
# data, for rules OpenAPI cannot state: a referenced row must exist, a name
# must be free, two parameters together must stay under a cap. For them
# only, 400 joins the check's default expected statuses (2xx, 3xx, 401, 403,
# 404, 409, 429, 5xx); any other refusal of valid data still fails.
#
# (Not ``enabled = false``: schemathesis lets a check named by ``--checks``
# on the command line override a per-operation ``enabled = false``, while a
# per-operation ``expected-statuses`` is honoured.)
_POSITIVE_DATA_ACCEPTANCE_400 = {
    "players_register": "the name must not be taken yet (unique; the coverage phase replays its boundary names)",
    "listings_create": "`item` must be the id of an existing item (DRF PrimaryKeyRelatedField)",
    "sales_create": "`listing` must be the id of an existing listing (DRF PrimaryKeyRelatedField)",
    "items_history": "days x interval must stay within 3000 candles (a rule spanning two parameters)",
}
_DEFAULT_POSITIVE = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


def schemathesis_config() -> str:
    """The ``--config-file`` text (TOML) for :data:`_POSITIVE_DATA_ACCEPTANCE_400`."""
    statuses = ", ".join(f'"{s}"' for s in [*_DEFAULT_POSITIVE, "400"])
    return "".join(
        f'# {reason}\n[[operations]]\ninclude-operation-id = "{op}"\n'
        f"checks.positive_data_acceptance.expected-statuses = [{statuses}]\n\n"
        for op, reason in _POSITIVE_DATA_ACCEPTANCE_400.items()
    )


def run_schemathesis(
    schema_url: str, *, token: str, report_dir: Path, args: list[str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``st run`` (schemathesis' CLI, as a user runs it) against ``schema_url``."""
    config = report_dir / "schemathesis.toml"
    config.write_text(schemathesis_config())
    argv = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        schema_url,
        "--header",
        f"Authorization: Token {token}",
        "--no-color",
        "--generation-database",
        "none",  # no example store shared between runs: reproducible
        "--report",
        "junit",
        "--report-dir",
        str(report_dir),
        *args,
    ]
    return subprocess.run(
        argv, cwd=report_dir, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout, check=False
    )
