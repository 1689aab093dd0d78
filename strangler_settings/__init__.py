"""One way for every process to read its settings from the environment.

A settings class is a frozen dataclass subclassing :class:`EnvSettings` whose
fields are declared with :func:`env`: the variable's name, a parser, a default
and whether the value is secret. ``from_env`` reads every declared field once
and fails with one :class:`SettingsError` naming the variable; ``render_env``
gives back the ``{VARIABLE: text}`` mapping that makes a child process read
the same settings, so launchers and benchmarks never restate variable names.

Database URLs are parsed by libpq (through psycopg) into
:class:`DatabaseUrl`, which keeps every query parameter (``sslmode``...) for
the consumers that need them spelled differently (Django, Debezium).
"""

from strangler_settings.database import DatabaseUrl, postgres_url
from strangler_settings.fields import (
    REQUIRED,
    EnvSettings,
    Secret,
    SettingsError,
    boolean,
    csv_list,
    env,
    http_url,
    integer,
    json_object,
    number,
    one_of,
    port,
    read,
    text,
)

__all__ = [
    "REQUIRED",
    "DatabaseUrl",
    "EnvSettings",
    "Secret",
    "SettingsError",
    "boolean",
    "csv_list",
    "env",
    "http_url",
    "integer",
    "json_object",
    "number",
    "one_of",
    "port",
    "postgres_url",
    "read",
    "text",
]
