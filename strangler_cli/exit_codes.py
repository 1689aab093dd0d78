"""The exit codes of every ``strangler`` command, in one place.

Scripts branch on these, so they are part of the CLI's contract: a number
never changes meaning. ``2`` is Click's own code for a usage error (unknown
option, bad value, missing argument) and is kept for our own usage errors
too. ``strangler --help`` and the README list the same table, generated
from / checked against :data:`DESCRIPTIONS`.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What went wrong, as far as a script needs to know."""

    OK = 0
    #: The operation ran and failed (server error, nothing to roll back to,
    #: a rebuild that never became ready, dead letters still failing, ...).
    FAILURE = 1
    #: Click's usage error: bad option or argument (also: unknown log part).
    USAGE = 2
    #: The stack or the part asked for is not running or does not answer
    #: (no ``endpoints.json``, connection refused, 502/503/504).
    UNREACHABLE = 3
    #: No admin token found, or the proxy / service refused it (401/403).
    UNAUTHORISED = 4
    #: Validation refused a route table (the live one is unchanged).
    REFUSED = 5
    #: A change needs confirmation and none could be asked for
    #: (``--json`` or no terminal): pass ``--yes``.
    NEEDS_CONFIRMATION = 6
    #: ``strangler up`` was stopped (Ctrl-C, SIGTERM) before the stack was
    #: ready (128 + SIGINT, as shells report it).
    INTERRUPTED = 130


#: One line per code, for ``strangler --help`` and the README.
DESCRIPTIONS: dict[ExitCode, str] = {
    ExitCode.OK: "ok",
    ExitCode.FAILURE: "the operation failed",
    ExitCode.USAGE: "usage error (bad option or argument)",
    ExitCode.UNREACHABLE: "not reachable: the stack or a part of it is down",
    ExitCode.UNAUTHORISED: "not authorised: admin token missing or refused",
    ExitCode.REFUSED: "refused by validation: the route table is invalid",
    ExitCode.NEEDS_CONFIRMATION: "confirmation needed: pass --yes",
    ExitCode.INTERRUPTED: "interrupted (strangler up stopped before the stack was ready)",
}


#: A word or two per code, for the one-line summary under each command's help.
SHORT: dict[ExitCode, str] = {
    ExitCode.OK: "ok",
    ExitCode.FAILURE: "failed",
    ExitCode.USAGE: "usage",
    ExitCode.UNREACHABLE: "unreachable",
    ExitCode.UNAUTHORISED: "unauthorised",
    ExitCode.REFUSED: "refused",
    ExitCode.NEEDS_CONFIRMATION: "needs --yes",
}


def exit_codes_help() -> str:
    """The exit-code table as help text (single newlines, kept by Typer)."""
    lines = [f"  {int(code):>3}  {text}" for code, text in DESCRIPTIONS.items()]
    return "Exit codes:\n" + "\n".join(lines)


def exit_codes_line() -> str:
    """The common exit codes in one line."""
    return "Exit codes: " + ", ".join(f"{int(code)} {text}" for code, text in SHORT.items()) + "."


def for_http_status(status: int) -> ExitCode:
    """The exit code for an error answer of the admin API or a service."""
    if status in (401, 403):
        return ExitCode.UNAUTHORISED
    if status == 422:
        return ExitCode.REFUSED
    if status in (502, 503, 504):
        return ExitCode.UNREACHABLE
    return ExitCode.FAILURE
