"""``strangler routes`` against the proxy's real admin API, in-process:
export/apply round trip, non-interactive apply, offline validation and the
exit code of each kind of failure."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from cli_support import TOKEN, FakeProxy, answering, invoke, refusing, routes

from strangler_cli.exit_codes import ExitCode

RATE = "/api/items/{id}/rate/"
TABLE = f"""
routes:
  - methods: [GET, HEAD]
    path: {RATE}
    mode: shadow
    service: pricing
    ignore: ["$.as_of"]
  - methods: [GET]
    path: /api/items/{{id}}/history/
    mode: canary
    weight: 10
    service: pricing
  - methods: [GET]
    path: /api/old-report/{{rest:path}}
    mode: retired
    pointer: /api/reports/
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_export_writes_yaml_that_apply_takes_back_unchanged(tmp_path: Path) -> None:
    proxy = FakeProxy()
    assert routes(proxy.transport, "apply", str(write(tmp_path, "t.yaml", TABLE)), "--yes").exit_code == 0
    applied = proxy.spec()
    exported = tmp_path / "exported.yaml"
    result = routes(proxy.transport, "export", "-o", str(exported))
    assert result.exit_code == 0, result.output
    text = exported.read_text()
    assert text.startswith("# strangler route table, version 2")
    assert TOKEN not in text and TOKEN not in result.output
    assert len(yaml.safe_load(text)["routes"]) == 3
    # a fresh proxy given the export ends with the same table; the source sees nothing to change
    other = FakeProxy()
    assert routes(other.transport, "apply", str(exported), "--yes").exit_code == 0
    assert other.spec() == applied
    result = routes(proxy.transport, "apply", str(exported), "--yes", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["changes"] == []
    assert len(proxy.store.versions) == 2


def test_export_to_stdout_as_yaml_or_json(tmp_path: Path) -> None:
    proxy = FakeProxy()
    routes(proxy.transport, "apply", str(write(tmp_path, "t.yaml", TABLE)), "--yes")
    as_yaml = yaml.safe_load(routes(proxy.transport, "export").stdout)
    as_json = json.loads(routes(proxy.transport, "export", "--json").stdout)
    assert as_yaml == as_json == proxy.spec()


def test_apply_json_never_prompts_without_yes(tmp_path: Path) -> None:
    proxy = FakeProxy()
    result = routes(proxy.transport, "apply", str(write(tmp_path, "t.yaml", TABLE)), "--json", input="y\n")
    assert result.exit_code == ExitCode.NEEDS_CONFIRMATION == 6
    assert result.stdout == ""
    assert "pass --yes" in result.stderr and "apply these changes?" not in result.output
    assert len(proxy.store.versions) == 1, "nothing applied"


def test_apply_json_with_yes_applies_and_prints_only_json(tmp_path: Path) -> None:
    proxy = FakeProxy()
    result = routes(
        proxy.transport, "apply", str(write(tmp_path, "t.yaml", TABLE)), "--json", "--yes", "--reason", "ci"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["version"] == 2 and {c["change"] for c in data["changes"]} == {"added"}
    assert proxy.store.versions[-1].reason == "ci"


def test_apply_prompts_on_stderr_and_a_no_applies_nothing(tmp_path: Path) -> None:
    proxy = FakeProxy()
    result = routes(proxy.transport, "apply", str(write(tmp_path, "t.yaml", TABLE)), input="n\n")
    assert result.exit_code == ExitCode.FAILURE
    assert "apply these changes?" in result.stderr and "apply these changes?" not in result.stdout
    assert "added" in result.stdout
    assert len(proxy.store.versions) == 1


def test_apply_with_nobody_to_answer_exits_6(tmp_path: Path) -> None:
    proxy = FakeProxy()
    result = routes(proxy.transport, "apply", str(write(tmp_path, "t.yaml", TABLE)), input="")
    assert result.exit_code == ExitCode.NEEDS_CONFIRMATION
    assert "no answer on stdin" in result.stderr and "pass --yes" in result.stderr
    assert len(proxy.store.versions) == 1


def test_apply_dry_run_shows_changes_and_applies_nothing(tmp_path: Path) -> None:
    proxy = FakeProxy()
    result = routes(proxy.transport, "apply", str(write(tmp_path, "t.yaml", TABLE)), "--dry-run", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["dry_run"] is True
    assert len(json.loads(result.stdout)["changes"]) == 3
    assert len(proxy.store.versions) == 1


def test_a_refused_table_exits_5_with_every_problem(tmp_path: Path) -> None:
    proxy = FakeProxy()
    bad = write(tmp_path, "bad.yaml", "routes:\n  - {path: /x/, mode: canary, service: ghost, weight: 300}\n")
    result = routes(proxy.transport, "apply", str(bad), "--yes")
    assert result.exit_code == ExitCode.REFUSED == 5
    assert "unknown service 'ghost'" in result.stderr and "weight must be an integer" in result.stderr
    sent = len(proxy.requests)
    result = routes(proxy.transport, "apply", str(write(tmp_path, "notyaml.yaml", "routes: [\n")), "--yes")
    assert result.exit_code == ExitCode.REFUSED and "not valid YAML" in result.stderr
    assert len(proxy.requests) == sent, "a file that is not YAML never reaches the proxy"
    assert len(proxy.store.versions) == 1


def test_set_takes_a_mode_from_the_proxy_list_and_refuses_others() -> None:
    proxy = FakeProxy()
    result = routes(proxy.transport, "set", f"GET {RATE}", "--mode", "SHADOW", "--service", "pricing", "--json")
    assert result.exit_code == 0, result.output
    assert proxy.spec()["routes"][0]["mode"] == "shadow"
    result = routes(proxy.transport, "set", f"GET {RATE}", "--mode", "sideways")
    assert result.exit_code == ExitCode.USAGE
    assert "legacy" in result.output and "retired" in result.output
    result = routes(proxy.transport, "set", f"GET {RATE}", "--mode", "new", "--service", "ghost")
    assert result.exit_code == ExitCode.REFUSED and "unknown service 'ghost'" in result.stderr


def test_wrong_or_missing_token_exits_4_and_never_shows_it(tmp_path: Path) -> None:
    proxy = FakeProxy()
    result = routes(proxy.transport, "list", token="not-the-token")
    assert result.exit_code == ExitCode.UNAUTHORISED == 4
    assert "wrong token" in result.stderr and "not-the-token" not in result.output
    result = invoke(proxy.transport, "routes", "list", "--url", "http://proxy.test", "--state-dir", str(tmp_path))
    assert result.exit_code == ExitCode.UNAUTHORISED and "no admin token" in result.stderr
    assert (
        invoke(
            answering(401, {"error": "missing bearer token"}), "routes", "list", "--url", "http://p", "--token", "t"
        ).exit_code
        == ExitCode.UNAUTHORISED
    )


def test_unreachable_proxy_exits_3() -> None:
    result = routes(refusing(), "list")
    assert result.exit_code == ExitCode.UNREACHABLE == 3
    assert "cannot reach the proxy at http://proxy.test" in result.stderr
    result = routes(answering(503, {"error": "control database unavailable; the live table is unchanged"}), "history")
    assert result.exit_code == ExitCode.UNREACHABLE and "control database unavailable" in result.stderr


def test_no_proxy_url_anywhere_exits_3(tmp_path: Path) -> None:
    result = invoke(None, "routes", "list", "--state-dir", str(tmp_path), "--token", "t")
    assert result.exit_code == ExitCode.UNREACHABLE and "no proxy URL" in result.stderr


def test_other_admin_errors_exit_1() -> None:
    result = routes(answering(404, {"error": "no version 99"}), "rollback", "--to", "99")
    assert result.exit_code == ExitCode.FAILURE and "404: no version 99" in result.stderr


def test_validate_accepts_a_good_table_offline(tmp_path: Path) -> None:
    result = invoke(None, "routes", "validate", str(write(tmp_path, "t.yaml", TABLE)))
    assert result.exit_code == 0, result.output
    assert "valid, 3 route(s)" in result.stdout and f"GET,HEAD {RATE}" in result.stdout
    data = json.loads(invoke(None, "routes", "validate", str(tmp_path / "t.yaml"), "--json").stdout)
    assert data["valid"] is True and data["problems"] == [] and len(data["routes"]) == 3


def test_validate_refuses_with_every_problem_and_exit_5(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        "bad.yaml",
        "routes:\n  - {path: /x/, mode: canary, service: ghost, weight: 300}\n"
        "  - {path: '/a/{b}/', mode: legacy}\n  - {path: '/a/{c}/', mode: legacy}\n",
    )
    result = invoke(None, "routes", "validate", str(bad))
    assert result.exit_code == ExitCode.REFUSED
    for problem in ("unknown service 'ghost'", "weight must be an integer 0-100", "overlap with equal specificity"):
        assert problem in result.stderr
    data = json.loads(invoke(None, "routes", "validate", str(bad), "--json").stdout)
    assert data["valid"] is False and len(data["problems"]) == 3
    result = invoke(None, "routes", "validate", str(write(tmp_path, "n.yaml", "routes: [\n")))
    assert result.exit_code == ExitCode.REFUSED and "not valid YAML" in result.stderr


def test_validate_knows_the_shipped_services_or_the_ones_given() -> None:
    example = Path(__file__).resolve().parents[3] / "routes.example.yaml"
    result = invoke(None, "routes", "validate", str(example), "--json")
    assert json.loads(result.stdout)["services"] == ["pricing", "market"]
    assert result.exit_code == 0, result.output
    # --service replaces the shipped list: a table naming another service is refused
    result = invoke(None, "routes", "validate", str(example), "--service", "pricing")
    assert result.exit_code == ExitCode.REFUSED and "market" in result.output


def test_validate_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    assert invoke(None, "routes", "validate", str(tmp_path / "nope.yaml")).exit_code == ExitCode.USAGE


def test_the_admin_url_comes_from_endpoints_proxy_admin_not_the_public_port(tmp_path: Path) -> None:
    """`strangler up` writes the admin listener's URL as ``proxy_admin``; the
    public ``proxy`` URL no longer serves ``/_strangler/``."""
    proxy = FakeProxy()
    endpoints = {"proxy": "http://public.test", "proxy_admin": "http://admin.test"}
    (tmp_path / "endpoints.json").write_text(json.dumps(endpoints))
    result = invoke(proxy.transport, "routes", "list", "--state-dir", str(tmp_path), "--token", TOKEN)
    assert result.exit_code == 0, result.output
    assert {r.url.host for r in proxy.requests} == {"admin.test"}
