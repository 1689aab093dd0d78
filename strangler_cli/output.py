"""How every command prints: tables and messages for people, JSON for scripts.

Text that comes from users, files or servers (route keys, reasons, paths,
error messages, log tails) is printed *literally*: Rich would otherwise read
``[error]`` as a style tag and drop it, and a stray ``[/tmp/x]`` as a closing
tag and crash. So messages go through :func:`fail` / :func:`say` (markup
off) and table cells through :func:`cells` (``Text`` objects, never parsed).
Our own styling is applied with ``Text(..., style=...)``, not markup strings.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from strangler_cli.exit_codes import ExitCode, exit_codes_line

#: Tables and human output (stdout). Rich resolves ``sys.stdout`` at print
#: time, so Click's test runner captures it.
console = Console()
#: Messages, progress and prompts (stderr): stdout stays clean for pipes.
err = Console(stderr=True)


def fail(message: str, code: ExitCode = ExitCode.FAILURE) -> NoReturn:
    """Print ``error: <message>`` literally on stderr and exit with ``code``."""
    err.print(Text("error: ", style="red") + Text(message), highlight=False, soft_wrap=True)
    raise typer.Exit(int(code))


def say(message: str, *, stderr: bool = False, style: str = "") -> None:
    """Print one literal line (no markup, no highlighting)."""
    (err if stderr else console).print(Text(message, style=style), highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """JSON on stdout, nothing else: what ``--json`` promises scripts."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def cells(*values: Any) -> list[Text]:
    """Table cells that are never parsed as markup (``None`` shows as ``-``)."""
    return [v if isinstance(v, Text) else Text("-" if v is None else str(v)) for v in values]


def examples(*commands: str) -> str:
    """A command's help epilog: a few examples, then the exit codes in one line.

    Typer keeps single line breaks in an epilog but dedents it; the last,
    unindented line keeps the examples indented."""
    body = "\n".join(f"  {escape(command)}" for command in commands)
    return f"Examples:\n{body}\n{exit_codes_line()}"
