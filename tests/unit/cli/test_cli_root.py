"""What users of kubectl and gh expect from the root command: --version,
shell completion (with the route modes), examples and exit codes in help."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import typer
from cli_support import invoke

from strangler_cli.exit_codes import DESCRIPTIONS, ExitCode, for_http_status
from strangler_cli.main import app
from strangler_cli.routes import Mode
from strangler_proxy.routing import MODES

README = Path(__file__).resolve().parents[3] / "README.md"


def test_version_comes_from_the_package_metadata() -> None:
    result = invoke(None, "--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"strangler {version('strangler-toolkit')}"


def test_mode_choices_are_the_proxys_own() -> None:
    assert tuple(m.value for m in Mode) == MODES


def test_help_lists_the_mode_choices_and_examples() -> None:
    out = invoke(None, "routes", "set", "--help").stdout
    assert "legacy|shadow|canary|new|retired" in out
    assert "Examples:" in out and "strangler routes set" in out


def _command_paths(group: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [(*prefix, info.name or info.callback.__name__) for info in group.registered_commands]  # type: ignore[union-attr]
    for sub in group.registered_groups:
        assert sub.typer_instance is not None and sub.name is not None
        paths += _command_paths(sub.typer_instance, (*prefix, sub.name))
    return paths


@pytest.mark.parametrize("path", _command_paths(app), ids=" ".join)
def test_every_command_has_examples_and_the_exit_codes_in_its_help(path: tuple[str, ...]) -> None:
    result = invoke(None, *path, "--help")
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.stdout
    assert f"strangler {' '.join(path)}" in result.stdout.split("Examples:")[1]
    assert "Exit codes: 0 ok" in result.stdout


def test_root_help_documents_every_exit_code() -> None:
    out = invoke(None, "--help").stdout
    for code, text in DESCRIPTIONS.items():
        assert re.search(rf"^\s*{int(code)}\s+{re.escape(text)}\s*$", out, re.M), (code, text)


def test_the_readme_documents_the_same_exit_codes() -> None:
    readme = README.read_text()
    for code, text in DESCRIPTIONS.items():
        assert f"| {int(code)} | {text} |" in readme, (code, text)


def test_exit_codes_never_change_meaning() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0,
        "FAILURE": 1,
        "USAGE": 2,
        "UNREACHABLE": 3,
        "UNAUTHORISED": 4,
        "REFUSED": 5,
        "NEEDS_CONFIRMATION": 6,
        "INTERRUPTED": 130,
    }
    assert [for_http_status(s) for s in (401, 403, 422, 503, 400, 404, 409, 500)] == [
        ExitCode.UNAUTHORISED,
        ExitCode.UNAUTHORISED,
        ExitCode.REFUSED,
        ExitCode.UNREACHABLE,
        ExitCode.FAILURE,
        ExitCode.FAILURE,
        ExitCode.FAILURE,
        ExitCode.FAILURE,
    ]


def test_completion_can_be_shown_and_installed() -> None:
    result = invoke(None, "--show-completion", "bash")
    assert result.exit_code == 0
    assert "_STRANGLER_COMPLETE=complete_bash" in result.stdout
    assert "--install-completion" in invoke(None, "--help").stdout


def test_completion_installs_into_the_users_shell_config(tmp_path: Path) -> None:
    result = invoke(None, "--install-completion", "bash", env={"HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    script = tmp_path / ".bash_completions" / "strangler.sh"
    assert "_STRANGLER_COMPLETE=complete_bash" in script.read_text()
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()


def _complete(words: str) -> list[str]:
    env: dict[str, str | None] = {
        "_STRANGLER_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
    }
    result = invoke(None, env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.split()


def test_completion_offers_commands_and_the_route_modes() -> None:
    assert {"up", "status", "logs", "routes", "services"} <= set(_complete("strangler "))
    assert {"export", "validate", "apply"} <= set(_complete("strangler routes "))
    assert _complete("strangler routes set x --mode ") == list(MODES)
    assert _complete("strangler routes set x --mode ca") == ["canary"]


def test_starting_the_cli_imports_no_stack_or_database_code() -> None:
    """Each TAB of shell completion starts the program: keep it light."""
    code = (
        "import sys, strangler_cli.main; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'local_stack', 'psycopg', 'acl', 'kafka'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(README.parent)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
