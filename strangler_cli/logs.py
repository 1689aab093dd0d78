"""``strangler logs [PART] [-f]``: the log of one part of the local stack.

``strangler up`` writes one log per child in ``<state-dir>/logs/<part>.log``
(``proxy``, ``legacy``, ``postgres``, ``cdc-relay``, ``acl``, ``pricing``,
``pricing-projector``, ...) and the broker's in ``<state-dir>/kafka/kafka.log``.
Logs outlive the stack, so this works after ``strangler up`` stopped too.

Lines are copied as they are (bytes decoded as UTF-8, bad bytes replaced),
never through Rich: a log line is data, not markup. ``-f`` keeps reading
new lines (surviving truncation) until Ctrl-C or SIGTERM, then exits 0.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from types import FrameType
from typing import Any

import typer
from rich.table import Table

from strangler_cli.exit_codes import ExitCode
from strangler_cli.output import cells, console, examples, fail, print_json
from strangler_cli.state import StateOpt

CHUNK = 1 << 16
Emit = Callable[[str], None]


def log_files(state_dir: Path) -> dict[str, Path]:
    """Every part that has a log in ``state_dir``, by name."""
    files = {path.stem: path for path in sorted((state_dir / "logs").glob("*.log"))}
    broker = state_dir / "kafka" / "kafka.log"
    if broker.is_file():
        files.setdefault("kafka", broker)
    return files


def tail_start(path: Path, lines: int) -> int:
    """The byte offset where the last ``lines`` lines of ``path`` begin
    (0 for "all"), read backwards in blocks so a big log costs little."""
    size = path.stat().st_size
    if lines < 0 or size == 0:
        return 0
    if lines == 0:
        return size
    with open(path, "rb") as handle:
        end = size
        handle.seek(size - 1)
        wanted = lines + (1 if handle.read(1) == b"\n" else 0)  # a final newline ends, not starts, a line
        while end > 0:
            begin = max(0, end - CHUNK)
            handle.seek(begin)
            block = handle.read(end - begin)
            count = block.count(b"\n")
            if count >= wanted:
                index = len(block)
                for _ in range(wanted):
                    index = block.rindex(b"\n", 0, index)
                return begin + index + 1
            wanted -= count
            end = begin
    return 0


class LogReader:
    """Reads the complete lines added to a file since the last call.

    It reopens the file by path on each call, so a log that is replaced (a
    new file at the same path) or truncated (shorter than what was read) is
    read again from its start instead of being stuck on the old file. Like
    ``tail -f``, it cannot notice a truncation that grew past the old size
    between two calls."""

    def __init__(self, path: Path, position: int = 0) -> None:
        self.path = path
        self.position = position
        self._partial = b""
        self._inode = self._stat_inode()

    def _stat_inode(self) -> int | None:
        try:
            return self.path.stat().st_ino
        except FileNotFoundError:
            return None

    def new_lines(self) -> Iterator[str]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return
        if stat.st_size < self.position or stat.st_ino != self._inode:
            self.position, self._partial, self._inode = 0, b"", stat.st_ino
        with open(self.path, "rb") as handle:
            handle.seek(self.position)
            while chunk := handle.read(CHUNK):
                self.position += len(chunk)
                *complete, self._partial = (self._partial + chunk).split(b"\n")
                for line in complete:
                    yield line.decode("utf-8", "replace")

    def rest(self) -> Iterator[str]:
        """A last line without its newline (the writer may still be on it)."""
        if self._partial:
            line, self._partial = self._partial, b""
            yield line.decode("utf-8", "replace")


def follow(reader: LogReader, emit: Emit, stop: threading.Event, interval: float = 0.2) -> None:
    """Emit new lines until ``stop`` is set (checked at least every ``interval`` s)."""
    while not stop.is_set():
        for line in reader.new_lines():
            emit(line)
        stop.wait(interval)
    for line in reader.new_lines():
        emit(line)
    for line in reader.rest():
        emit(line)


def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """Ctrl-C / SIGTERM set ``stop``; returns what puts the old handlers back."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def _emitter(part: str, as_json: bool) -> Emit:
    def emit(line: str) -> None:
        sys.stdout.write((json.dumps({"part": part, "line": line}) if as_json else line) + "\n")
        sys.stdout.flush()

    return emit


def _list_logs(files: dict[str, Path], as_json: bool) -> None:
    rows: list[dict[str, Any]] = []
    for part, path in files.items():
        stat = path.stat()
        modified = datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds")
        rows.append({"part": part, "path": str(path), "bytes": stat.st_size, "modified": modified})
    if as_json:
        print_json(rows)
        return
    table = Table(title="logs (strangler logs PART)", title_justify="left")
    for col in ("part", "file", "size", "modified (UTC)"):
        table.add_column(col)
    for row in rows:
        table.add_row(*cells(row["part"], row["path"], f"{row['bytes']:,} B", row["modified"][:19]))
    console.print(table)


def _complete_part(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of PART: the logs in the state dir given so far."""
    state_dir = Path(ctx.params.get("state_dir") or ".strangler")
    return [part for part in log_files(state_dir) if part.startswith(incomplete)]


def _print_log(reader: LogReader, emit: Emit, *, follow_: bool) -> None:
    """The chosen lines, then (``-f``) new ones until Ctrl-C or SIGTERM."""
    if not follow_:
        for line in chain(reader.new_lines(), reader.rest()):
            emit(line)
        return
    stop = threading.Event()
    restore = _stop_on_signals(stop)
    try:
        follow(reader, emit, stop)
    finally:
        restore()


def logs(
    part: str | None = typer.Argument(
        None,
        autocompletion=_complete_part,
        help="proxy, legacy, postgres, kafka, cdc-relay, acl, syncback, pricing, ...; none: list the logs.",
    ),
    follow_: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines until Ctrl-C."),
    tail: int = typer.Option(-1, "--tail", "-n", help="Only the last N lines (-1: all)."),
    state_dir: Path = StateOpt,
    as_json: bool = typer.Option(
        False, "--json", help="One JSON object per line ({part, line}); with no PART, the list of logs as JSON."
    ),
) -> None:
    """Print (or follow) the log of one part of the local stack."""
    files = log_files(state_dir)
    if not files:
        fail(f"no logs in {state_dir / 'logs'}: has `strangler up` run with --state-dir {state_dir}?", ExitCode.USAGE)
    if part is None:
        _list_logs(files, as_json)
        return
    if part not in files:
        fail(f"no log for part {part!r}; parts with a log: {', '.join(files)}", ExitCode.USAGE)
    path = files[part]
    try:
        _print_log(LogReader(path, tail_start(path, tail)), _emitter(part, as_json), follow_=follow_)
    except BrokenPipeError:
        # `strangler logs proxy | head`: the reader has what it wanted. Point
        # stdout at /dev/null so the interpreter's last flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


LOGS_EXAMPLES = examples(
    "strangler logs",
    "strangler logs proxy --tail 50",
    "strangler logs pricing -f",
    "strangler logs proxy --json | jq -r .line",
)
