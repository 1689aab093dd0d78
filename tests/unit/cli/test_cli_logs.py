"""``strangler logs``: list, print, tail and follow the logs in a state dir."""

from __future__ import annotations

import functools
import json
import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cli_support import invoke

from local_stack.processes import wait_until
from strangler_cli.exit_codes import ExitCode
from strangler_cli.logs import CHUNK, LogReader, follow, tail_start

REPO = Path(__file__).resolve().parents[3]
followed = functools.partial(wait_until, timeout=10, what="the follower's output", interval=0.01)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    (tmp_path / "logs").mkdir()
    (tmp_path / "kafka").mkdir()
    (tmp_path / "logs" / "proxy.log").write_text('{"msg": "proxy started"}\n[error] kept as is [/tmp/x]\nthird\n')
    (tmp_path / "logs" / "legacy.log").write_text("GET /api/items/ 200\n")
    (tmp_path / "kafka" / "kafka.log").write_text("broker up\n")
    return tmp_path


def test_without_a_part_it_lists_the_logs(state: Path) -> None:
    result = invoke(None, "logs", "--state-dir", str(state), "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["part"] for r in rows] == ["legacy", "proxy", "kafka"]
    assert rows[1]["bytes"] == (state / "logs" / "proxy.log").stat().st_size
    table = invoke(None, "logs", "--state-dir", str(state)).stdout
    assert "proxy" in table and "kafka.log" in table


def test_prints_a_part_literally(state: Path) -> None:
    result = invoke(None, "logs", "proxy", "--state-dir", str(state))
    assert result.exit_code == 0
    assert result.stdout == (state / "logs" / "proxy.log").read_text()
    assert invoke(None, "logs", "kafka", "--state-dir", str(state)).stdout == "broker up\n"


def test_tail_and_json_lines(state: Path) -> None:
    assert (
        invoke(None, "logs", "proxy", "-n", "2", "--state-dir", str(state)).stdout
        == "[error] kept as is [/tmp/x]\nthird\n"
    )
    assert invoke(None, "logs", "proxy", "--tail", "0", "--state-dir", str(state)).stdout == ""
    lines = invoke(None, "logs", "proxy", "-n", "1", "--json", "--state-dir", str(state)).stdout.splitlines()
    assert [json.loads(line) for line in lines] == [{"part": "proxy", "line": "third"}]


def test_unknown_part_lists_the_parts_and_exits_2(state: Path) -> None:
    result = invoke(None, "logs", "nginx", "--state-dir", str(state))
    assert result.exit_code == ExitCode.USAGE
    assert "no log for part 'nginx'; parts with a log: legacy, proxy, kafka" in result.stderr


def test_no_logs_at_all_exits_2(tmp_path: Path) -> None:
    result = invoke(None, "logs", "proxy", "--state-dir", str(tmp_path))
    assert result.exit_code == ExitCode.USAGE and "no logs in" in result.stderr


@pytest.mark.parametrize("final_newline", [True, False])
@pytest.mark.parametrize("n", [0, 1, 7, 5000, 30000])
def test_tail_start_finds_the_last_lines_across_blocks(tmp_path: Path, n: int, final_newline: bool) -> None:
    lines = [f"line {i} " + "x" * (i % 50) for i in range(20000)]
    path = tmp_path / "big.log"
    path.write_text("\n".join(lines) + ("\n" if final_newline else ""))
    assert path.stat().st_size > 4 * CHUNK
    reader = LogReader(path, tail_start(path, n))
    assert [*reader.new_lines(), *reader.rest()] == (lines[-n:] if n else [])


def test_follow_prints_new_lines_survives_truncation_and_stops(tmp_path: Path) -> None:
    path = tmp_path / "p.log"
    path.write_text("old\n")
    seen: list[str] = []
    stop = threading.Event()
    reader = LogReader(path, tail_start(path, 1))
    worker = threading.Thread(target=follow, args=(reader, seen.append, stop, 0.01))
    worker.start()
    try:
        followed(lambda: seen == ["old"])
        with open(path, "a") as handle:
            handle.write("new 1\nnew ")
            handle.flush()
            followed(lambda: seen == ["old", "new 1"])
            handle.write("2\n")
        followed(lambda: seen[-1] == "new 2")
        path.write_text("cut\n")  # truncated in place, shorter than what was read
        followed(lambda: seen[-1] == "cut")
        replacement = tmp_path / "p.log.new"
        replacement.write_text("a new file at the same path, longer than the old one\n")
        os.replace(replacement, path)
        followed(lambda: seen[-1] == "a new file at the same path, longer than the old one")
        with open(path, "a") as handle:
            handle.write("unfinished")
    finally:
        stop.set()
        worker.join(5)
    assert not worker.is_alive()
    assert seen == [
        "old",
        "new 1",
        "new 2",
        "cut",
        "a new file at the same path, longer than the old one",
        "unfinished",
    ]


def test_follow_stops_on_ctrl_c_with_exit_0(state: Path) -> None:
    log = state / "logs" / "proxy.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "strangler_cli", "logs", "proxy", "-f", "-n", "1", "--state-dir", str(state)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out = process.stdout
    assert out is not None
    try:

        def next_line() -> str:
            ready, _, _ = select.select([out], [], [], 30)
            assert ready, "no output from strangler logs -f"
            return out.readline()

        assert next_line() == "third\n"
        with open(log, "a") as handle:
            handle.write("appended while following\n")
        assert next_line() == "appended while following\n"
        process.send_signal(signal.SIGINT)
        code = process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 0, process.stderr.read() if process.stderr else ""


def test_a_closed_pipe_ends_quietly(state: Path) -> None:
    big = state / "logs" / "acl.log"
    big.write_text("".join(f"line {i}\n" for i in range(200_000)))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "strangler_cli", "logs", "acl", "--state-dir", str(state)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline() == b"line 0\n"
    process.stdout.close()  # like `| head -1`
    code = process.wait(30)
    assert process.stderr.read() == b""
    assert code == 0


def test_completion_offers_the_parts_with_a_log(state: Path) -> None:
    words = f"strangler logs --state-dir {state} p"
    env: dict[str, str | None] = {
        "_STRANGLER_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
    }
    assert invoke(None, env=env).stdout.split() == ["proxy"]
