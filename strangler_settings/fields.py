"""Environment variables declared as dataclass fields, read and rendered."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any, Generic, Self, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

Environ = Mapping[str, str]


class SettingsError(ValueError):
    """A variable is missing or unusable. The message names the variable and
    never contains a secret's value."""


class Secret(str):
    """A ``str`` whose ``repr`` hides it, so a settings object can be logged.
    ``str()``, comparisons and formatting still give the value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'**********'"


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of a variable that must be set.
REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Var(Generic[T]):
    """One environment variable: its name (``{KEY}`` placeholders are filled
    from a context, e.g. ``STRANGLER_{SERVICE}_PORT``), how to parse it, its
    default and whether its value is secret."""

    name: str
    parse: Callable[[str], T]
    default: Any = REQUIRED
    secret: bool = False
    render: Callable[[T], str] = str

    def name_in(self, context: Mapping[str, str]) -> str:
        return self.name.format(**context) if context else self.name

    def read(self, environ: Environ, context: Mapping[str, str] | None = None) -> T:
        name = self.name_in(context or {})
        raw = environ.get(name, "").strip()
        if not raw:
            if self.default is REQUIRED:
                raise SettingsError(f"{name} is required")
            return self.default  # type: ignore[no-any-return]
        try:
            value = self.parse(raw)
        except SettingsError:
            raise
        except (ValueError, TypeError) as exc:
            detail = "is malformed (value not shown: secret)" if self.secret else str(exc)
            raise SettingsError(f"{name} {detail}") from None
        return Secret(value) if self.secret and isinstance(value, str) else value  # type: ignore[return-value]


def env(
    name: str,
    parse: Callable[[str], Any] | None = None,
    *,
    default: Any = REQUIRED,
    secret: bool = False,
    render: Callable[[Any], str] = str,
) -> Any:
    """A dataclass field read from the variable ``name`` (see :class:`Var`).
    A field with a default may be left out of the constructor too."""
    var = Var(name, parse or text, default, secret, render)
    metadata = {"env": var}
    if default is REQUIRED:
        return field(metadata=metadata)
    if isinstance(default, dict | list | set):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def read(
    name: str,
    parse: Callable[[str], T] | None = None,
    *,
    default: Any = REQUIRED,
    secret: bool = False,
    environ: Environ | None = None,
) -> T:
    """One variable outside a settings class (e.g. Django's settings module)."""
    var: Var[Any] = Var(name, parse or text, default, secret)
    return var.read(os.environ if environ is None else environ)  # type: ignore[no-any-return]


def _var(f: Field[Any]) -> Var[Any] | None:
    return f.metadata.get("env")


class EnvSettings:
    """Base of a frozen settings dataclass whose fields are declared with
    :func:`env`. Subclasses keep their own ``from_env`` (its signature is
    their public contract) and build on :meth:`read_env`."""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            var = _var(f)
            value = getattr(self, f.name)
            if var is not None and var.secret and isinstance(value, str) and not isinstance(value, Secret):
                object.__setattr__(self, f.name, Secret(value))  # masked in repr however it was built

    def env_context(self) -> dict[str, str]:
        """Values for ``{KEY}`` placeholders in variable names (default none)."""
        return {}

    @classmethod
    def read_env(
        cls, environ: Environ | None = None, *, context: Mapping[str, str] | None = None, **given: Any
    ) -> Self:
        """Every declared field not in ``given``, read from ``environ``
        (``os.environ`` by default), then the constructor."""
        environ = os.environ if environ is None else environ
        values = dict(given)
        for f in fields(cls):  # type: ignore[arg-type]
            var = _var(f)
            if var is not None and f.name not in values:
                values[f.name] = var.read(environ, context)
        return cls(**values)

    def render_env(self) -> dict[str, str]:
        """``{VARIABLE: text}`` that ``from_env`` reads back as these settings
        (fields left ``None`` are left out). Secrets are included: this is
        for a child's environment, never for a log."""
        context = self.env_context()
        rendered: dict[str, str] = {}
        for f in fields(self):  # type: ignore[arg-type]
            var = _var(f)
            value = getattr(self, f.name)
            if var is not None and value is not None:
                rendered[var.name_in(context)] = var.render(value)
        return rendered


# -- parsers: take the stripped text, return the value or raise ValueError ---------


def text(raw: str) -> str:
    return raw


def integer(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """An integer parser, bounds included."""

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"must be an integer, got {raw!r}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ValueError(f"must be between {lo} and {hi}, got {value}")
        return value

    return parse


port = integer(1, 65535)


def number(lo: float | None = None, hi: float | None = None) -> Callable[[str], float]:
    """A decimal number parser, bounds included."""

    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"must be a number, got {raw!r}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ValueError(f"must be between {lo:g} and {hi:g}, got {value:g}")
        return value

    return parse


def one_of(*choices: str) -> Callable[[str], str]:
    """A parser accepting only ``choices``."""

    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {raw!r}")
        return raw

    return parse


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def boolean(raw: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ValueError(f"must be a boolean (1/0, true/false), got {raw!r}")


def render_boolean(value: bool) -> str:
    return "1" if value else "0"


def http_url(raw: str) -> str:
    """An ``http://host[:port]`` base URL, without its trailing slash."""
    parts = urlsplit(raw)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"must be an http://host:port URL, got {raw!r}")
    return raw.rstrip("/")


def json_object(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValueError("must be a JSON object") from None
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    return value


def csv_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def render_csv(values: list[str]) -> str:
    return ",".join(values)


def render_json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
