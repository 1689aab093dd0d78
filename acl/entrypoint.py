"""What every ACL process does before its real work: log to stderr, read
its settings once (a missing variable ends the process with exit code 2 and
a message naming it), and turn SIGTERM/SIGINT into a graceful stop."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from acl.settings import SettingsError

SettingsT = TypeVar("SettingsT")


def configure_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("STRANGLER_LOG_LEVEL", "INFO"),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)


def load_settings(program: str, from_env: Callable[[], SettingsT]) -> SettingsT:
    try:
        return from_env()
    except SettingsError as exc:
        print(f"{program}: {exc}", file=sys.stderr)
        sys.exit(2)


def stop_on_signals(request_stop: Callable[..., Any]) -> None:
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
