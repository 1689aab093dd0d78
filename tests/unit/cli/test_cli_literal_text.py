"""Text from users, files and servers prints literally: Rich markup in it is
never interpreted (``[error]`` kept, ``[/tmp/x]`` does not crash)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from cli_support import FakeProxy, answering, invoke, routes

from strangler_cli import up as up_command
from strangler_cli.exit_codes import ExitCode
from strangler_cli.output import fail

MESSAGE = "bad [error] near [/tmp/x] and [bold]not bold[/bold]"


def test_fail_prints_markup_literally(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exited:
        fail(MESSAGE, ExitCode.REFUSED)
    assert exited.value.exit_code == 5
    assert capsys.readouterr().err.strip() == f"error: {MESSAGE}"


def test_a_server_error_with_brackets_prints_literally() -> None:
    result = routes(answering(400, {"error": MESSAGE, "problems": ["path [/tmp/x] is [error]"]}), "list")
    assert result.exit_code == ExitCode.FAILURE
    assert f"400: {MESSAGE}" in result.stderr
    assert "  - path [/tmp/x] is [error]" in result.stderr


def test_table_cells_from_the_server_print_literally() -> None:
    proxy = FakeProxy()
    result = routes(proxy.transport, "set", "GET /api/items/", "--mode", "legacy", "--reason", MESSAGE)
    assert result.exit_code == 0, result.output
    result = routes(proxy.transport, "history")
    assert result.exit_code == 0
    assert "[error]" in result.stdout and "[/tmp/x]" in result.stdout and "[bold]not" in result.stdout


def test_a_state_dir_in_brackets_prints_literally(tmp_path: Path) -> None:
    odd = tmp_path / "[error]" / "[/tmp/x]"
    result = invoke(None, "status", "--state-dir", str(odd))
    assert result.exit_code == ExitCode.UNREACHABLE
    assert f"{odd / 'endpoints.json'} not found" in result.stderr


def test_strangler_up_prints_its_progress_and_errors_literally(capsys: pytest.CaptureFixture[str]) -> None:
    up_command._say(f"starting in {MESSAGE}")
    up_command._error(f"strangler up: {MESSAGE}")
    err = capsys.readouterr().err
    assert f"· starting in {MESSAGE}" in err and f"strangler up: {MESSAGE}" in err


def test_unknown_service_name_prints_literally(tmp_path: Path) -> None:
    (tmp_path / "endpoints.json").write_text('{"services": {"pricing": "http://127.0.0.1:1"}}')
    result = invoke(None, "services", "rebuild", "[error]", "--state-dir", str(tmp_path), "--token", "t")
    assert result.exit_code == ExitCode.USAGE
    assert "unknown service '[error]'" in result.stderr
