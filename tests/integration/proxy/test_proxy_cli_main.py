"""The `strangler routes` CLI against a running proxy, and the process
entry point (settings errors, several workers, signals)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from proxy_support import REPO, TOKEN, ProxyProc, start_proxy_process
from typer.testing import CliRunner

from local_stack.net import free_port
from local_stack.processes import wait_until
from strangler_cli.exit_codes import ExitCode
from strangler_cli.main import app
from strangler_proxy.settings import ProxySettings

ROUTE = "GET /api/items/{id}/rate/"
runner = CliRunner()


def cli(proxy: ProxyProc, *args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(
        app, ["routes", *args, "--url", proxy.admin_url, "--token", proxy.token], input=input, env={"COLUMNS": "200"}
    )
    return result.exit_code, result.output


def test_cli_set_list_history_rollback_diffs(proxy: ProxyProc) -> None:
    code, out = cli(proxy, "set", ROUTE, "--mode", "shadow", "--service", "pricing", "--reason", "start shadowing")
    assert code == 0 and "shadow" in out
    code, out = cli(proxy, "set", ROUTE, "--mode", "canary", "--weight", "25", "--reason", "canary 25%")
    assert code == 0
    code, out = cli(proxy, "list")
    assert code == 0 and ROUTE in out and "canary" in out and "25" in out
    code, out = cli(proxy, "list", "--json")
    assert json.loads(out)["routes"][0]["weight"] == 25
    code, out = cli(proxy, "history", "--json")
    versions = json.loads(out)["versions"]
    assert [v["reason"] for v in versions[:2]] == ["canary 25%", "start shadowing"]
    assert "@" in versions[0]["actor"]
    code, out = cli(proxy, "history")
    assert code == 0 and "canary 25%" in out
    code, out = cli(proxy, "rollback", "--reason", "too early")
    assert code == 0
    assert json.loads(cli(proxy, "list", "--json")[1])["routes"][0]["mode"] == "shadow"
    code, out = cli(proxy, "rollback", "--to", "1", "--json")
    assert code == 0 and json.loads(out)["changes"][0]["change"] == "removed"
    # diffs: shadow the planted mismatch first
    cli(proxy, "set", ROUTE, "--mode", "shadow", "--service", "pricing", "--reason", "again")
    httpx.get(proxy.url + "/api/items/13/rate/")
    mismatches = wait_until(
        lambda: json.loads(cli(proxy, "diffs", ROUTE, "--json")[1])["mismatches"], timeout=5, what="the mismatch"
    )
    assert mismatches[0]["differences"][0]["path"] == "$.rate"
    code, out = cli(proxy, "diffs", ROUTE)
    assert code == 0 and "$.rate" in out


def test_cli_refusals_are_clear(proxy: ProxyProc) -> None:
    code, out = cli(proxy, "set", ROUTE, "--mode", "new", "--service", "ghost")
    assert code == ExitCode.REFUSED and "unknown service 'ghost'" in out
    result = runner.invoke(app, ["routes", "list", "--url", proxy.admin_url, "--token", "wrong"])
    assert result.exit_code == ExitCode.UNAUTHORISED and "wrong token" in result.output
    assert "wrong" not in result.output.replace("wrong token", ""), "the token given is never printed"
    proxy.stop()
    code, out = cli(proxy, "list")
    assert code == ExitCode.UNREACHABLE and f"cannot reach the proxy at {proxy.admin_url}" in out


def test_cli_apply_shows_diff_then_applies(proxy: ProxyProc, tmp_path: Path) -> None:
    f = tmp_path / "routes.yaml"
    f.write_text(f"routes:\n  - methods: [GET]\n    path: {ROUTE.split()[1]}\n    mode: new\n    service: pricing\n")
    code, out = cli(proxy, "apply", str(f), input="n\n")
    assert code == 1 and "added" in out
    assert json.loads(cli(proxy, "list", "--json")[1])["routes"] == []
    code, out = cli(proxy, "apply", str(f), "--yes", "--reason", "from yaml")
    assert code == 0 and "applied" in out
    assert httpx.get(proxy.url + "/api/items/1/rate/").headers["x-strangler-upstream"] == "pricing"
    code, out = cli(proxy, "apply", str(f), "--yes")
    assert code == 0 and "nothing to change" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("routes:\n  - {path: /x/, mode: canary, service: pricing, weight: 300}\n")
    code, out = cli(proxy, "apply", str(bad), "--yes")
    assert code == ExitCode.REFUSED and "weight" in out


def test_cli_finds_url_and_token_in_the_state_dir(proxy: ProxyProc, tmp_path: Path) -> None:
    (tmp_path / "endpoints.json").write_text(json.dumps({"proxy": proxy.url, "proxy_admin": proxy.admin_url}))
    (tmp_path / "admin-token").write_text(TOKEN + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("STRANGLER_PROXY_ADMIN_URL", "STRANGLER_ADMIN_TOKEN")}
    result = runner.invoke(app, ["routes", "list", "--json", "--state-dir", str(tmp_path)], env=env)
    assert result.exit_code == 0, result.output
    assert "version" in json.loads(result.output)
    result = runner.invoke(app, ["routes", "list", "--state-dir", str(tmp_path / "none")], env=env)
    assert result.exit_code == ExitCode.UNREACHABLE and "no proxy URL" in result.output


def test_cli_export_is_what_apply_takes_back(proxy: ProxyProc, tmp_path: Path) -> None:
    proxy.apply(
        [
            {
                "methods": ["GET", "HEAD"],
                "path": "/api/items/{id}/rate/",
                "mode": "shadow",
                "service": "pricing",
                "ignore": ["$.as_of"],
                "limits": {"mismatch_rate": 0.05, "window_s": 60, "min_requests": 50},
            },
            {"methods": ["GET"], "path": "/api/items/", "mode": "canary", "weight": 10, "service": "pricing"},
            {"methods": ["GET"], "path": "/api/old/{rest:path}", "mode": "retired", "pointer": "/api/new/"},
        ]
    )
    before = json.loads(cli(proxy, "list", "--json")[1])
    exported = tmp_path / "live.yaml"
    code, out = cli(proxy, "export", "-o", str(exported))
    assert code == 0, out
    assert proxy.token not in exported.read_text() and proxy.token not in out
    code, out = cli(proxy, "apply", str(exported), "--yes", "--json")
    assert code == 0 and json.loads(out)["changes"] == []
    # the table survives a round trip through an empty one
    empty = tmp_path / "empty.yaml"
    empty.write_text("routes: []\n")
    assert cli(proxy, "apply", str(empty), "--yes")[0] == 0
    assert json.loads(cli(proxy, "list", "--json")[1])["routes"] == []
    code, out = cli(proxy, "apply", str(exported), "--yes", "--reason", "restore the export")
    assert code == 0, out
    after = json.loads(cli(proxy, "list", "--json")[1])
    assert after["routes"] == before["routes"] and after["version"] == before["version"] + 2
    assert httpx.get(proxy.url + "/api/old/x/y").status_code == 410


def test_cli_apply_json_without_yes_changes_nothing(proxy: ProxyProc, tmp_path: Path) -> None:
    f = tmp_path / "routes.yaml"
    f.write_text(f"routes:\n  - methods: [GET]\n    path: {ROUTE.split()[1]}\n    mode: new\n    service: pricing\n")
    result = runner.invoke(
        app, ["routes", "apply", str(f), "--json", "--url", proxy.admin_url, "--token", proxy.token], input="y\n"
    )
    assert result.exit_code == ExitCode.NEEDS_CONFIRMATION
    assert result.stdout == "" and "pass --yes" in result.stderr
    assert json.loads(cli(proxy, "list", "--json")[1])["routes"] == []
    code, out = cli(proxy, "apply", str(f), "--dry-run", "--json")
    assert code == 0 and json.loads(out)["changes"][0]["change"] == "added"
    assert httpx.get(proxy.url + "/api/items/1/rate/").headers["x-strangler-upstream"] == "legacy"


def test_cli_status_probes_a_real_proxy_and_database(proxy: ProxyProc, control_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "endpoints.json").write_text(
        json.dumps(
            {
                "proxy": proxy.url,
                "proxy_admin": proxy.admin_url,
                "databases": {"control": control_dsn},
                "processes": {"proxy": proxy.process.pid},
                "pid": os.getpid(),
            }
        )
    )
    result = runner.invoke(app, ["status", "--json", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    parts = {p["part"]: p for p in json.loads(result.stdout)["parts"]}
    assert parts["proxy"]["state"] == "up" and parts["proxy"]["pid"] == proxy.process.pid
    assert parts["proxy"]["detail"].startswith("serves route table v")
    assert parts["postgres"]["state"] == "up"
    proxy.stop()
    result = runner.invoke(app, ["status", "--state-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == ExitCode.UNREACHABLE
    assert "down" in result.stdout


def test_missing_settings_fail_loudly() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRANGLER_")}
    env["STRANGLER_PROXY_PORT"] = "18999"
    r = subprocess.run(
        [sys.executable, "-m", "strangler_proxy"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert r.returncode == 2 and "is required" in r.stderr


def test_several_workers_serve_and_all_stop_on_sigterm(control_dsn: str, legacy, pricing, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = ProxySettings(
        port=free_port(),
        admin_port=free_port(),
        workers=2,
        legacy_url=legacy.url,
        services={"pricing": pricing.url},
        control_database_url=control_dsn,
        admin_token=TOKEN,
    )
    env = {**os.environ, **settings.render_env()}
    p = start_proxy_process(settings.port, settings.admin_port, env, tmp_path / "proxy.log")
    pid = p.process.pid
    try:
        pids: set[int] = set()

        def both_workers_answered() -> bool:
            with httpx.Client() as c:  # a new connection each time lets the kernel pick a worker
                pids.add(c.get(p.admin_url + "/_strangler/health").json()["pid"])
            return len(pids) == 2

        wait_until(both_workers_answered, timeout=10, what="both workers to accept connections", interval=0)
        p.set_route(ROUTE, "new", service="pricing")

        def every_worker_follows_the_flip() -> bool:  # the other worker learns of it by NOTIFY
            seen: set[str] = set()
            for _ in range(20):
                with httpx.Client() as c:
                    seen.add(c.get(p.url + "/api/items/1/rate/").headers["x-strangler-upstream"])
            return seen == {"pricing"}

        wait_until(every_worker_follows_the_flip, timeout=5, what="every worker to follow the flip")
        metrics = httpx.get(p.admin_url + "/_strangler/metrics").text
        assert 'worker="' in metrics
    finally:
        p.process.send_signal(signal.SIGTERM)  # the supervisor alone: it stops its workers
        code = p.process.wait(20)
        p.stop()
    assert code == 0
    children = subprocess.run(["pgrep", "-P", str(pid)], check=False, capture_output=True, text=True).stdout.split()
    assert children == []
    assert p.log().count('"proxy stopped"') == 2
