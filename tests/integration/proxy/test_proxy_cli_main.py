"""The `strangler routes` CLI against a running proxy, and the process
entry point (settings errors, several workers, signals)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from proxy_support import REPO, TOKEN, ProxyProc, wait_healthy
from typer.testing import CliRunner

from local_stack.net import free_port
from strangler_cli.exit_codes import ExitCode
from strangler_cli.main import app

ROUTE = "GET /api/items/{id}/rate/"
runner = CliRunner()


def cli(proxy: ProxyProc, *args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(
        app, ["routes", *args, "--url", proxy.url, "--token", proxy.token], input=input, env={"COLUMNS": "200"}
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
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        code, out = cli(proxy, "diffs", ROUTE, "--json")
        if json.loads(out)["mismatches"]:
            break
        time.sleep(0.1)
    assert json.loads(out)["mismatches"][0]["differences"][0]["path"] == "$.rate"
    code, out = cli(proxy, "diffs", ROUTE)
    assert code == 0 and "$.rate" in out


def test_cli_refusals_are_clear(proxy: ProxyProc) -> None:
    code, out = cli(proxy, "set", ROUTE, "--mode", "new", "--service", "ghost")
    assert code == ExitCode.REFUSED and "unknown service 'ghost'" in out
    result = runner.invoke(app, ["routes", "list", "--url", proxy.url, "--token", "wrong"])
    assert result.exit_code == ExitCode.UNAUTHORISED and "wrong token" in result.output
    assert "wrong" not in result.output.replace("wrong token", ""), "the token given is never printed"
    proxy.stop()
    code, out = cli(proxy, "list")
    assert code == ExitCode.UNREACHABLE and f"cannot reach the proxy at {proxy.url}" in out


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
    (tmp_path / "endpoints.json").write_text(json.dumps({"proxy": proxy.url}))
    (tmp_path / "admin-token").write_text(TOKEN + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("STRANGLER_PROXY_URL", "STRANGLER_ADMIN_TOKEN")}
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
        app, ["routes", "apply", str(f), "--json", "--url", proxy.url, "--token", proxy.token], input="y\n"
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
                "databases": {"control": control_dsn},
                "processes": {"proxy": proxy.proc.pid},
                "pid": os.getpid(),
            }
        )
    )
    result = runner.invoke(app, ["status", "--json", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    parts = {p["part"]: p for p in json.loads(result.stdout)["parts"]}
    assert parts["proxy"]["state"] == "up" and parts["proxy"]["pid"] == proxy.proc.pid
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
    port = free_port()
    env = dict(
        os.environ,
        STRANGLER_PROXY_PORT=str(port),
        STRANGLER_PROXY_WORKERS="2",
        STRANGLER_LEGACY_URL=legacy.url,
        STRANGLER_SERVICES=json.dumps({"pricing": pricing.url}),
        STRANGLER_CONTROL_DATABASE_URL=control_dsn,
        STRANGLER_ADMIN_TOKEN=TOKEN,
    )
    log = tmp_path / "proxy.log"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "strangler_proxy"], env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log_file
        )
    p = ProxyProc(port, proc, log)
    try:
        wait_healthy(p)
        pids = set()
        deadline = time.monotonic() + 10
        while len(pids) < 2 and time.monotonic() < deadline:
            with httpx.Client() as c:  # a new connection each time lets the kernel pick a worker
                pids.add(c.get(p.url + "/_strangler/health").json()["pid"])
        assert len(pids) == 2, "both workers should accept connections"
        p.set_route(ROUTE, "new", service="pricing")
        time.sleep(1.0)  # the other worker learns of the flip by NOTIFY within a second
        seen: set[str] = set()
        for _ in range(20):
            with httpx.Client() as c:
                seen.add(c.get(p.url + "/api/items/1/rate/").headers["x-strangler-upstream"])
        assert seen == {"pricing"}, "every worker follows the flip"
        metrics = httpx.get(p.url + "/_strangler/metrics").text
        assert 'worker="' in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    assert code == 0
    children = subprocess.run(
        ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert children == []
    assert log.read_text().count('"proxy stopped"') == 2
