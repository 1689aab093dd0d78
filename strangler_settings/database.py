"""PostgreSQL connection strings, parsed by libpq (through psycopg) so that
every parameter survives, query parameters such as ``sslmode`` included."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import psycopg
from psycopg.conninfo import conninfo_to_dict

#: The parameters every consumer spells as a field of its own; the others
#: (``sslmode``, ``application_name``...) are :attr:`DatabaseUrl.options`.
CORE = frozenset({"host", "port", "user", "password", "dbname"})


@dataclass(frozen=True)
class DatabaseUrl:
    """A ``postgresql://`` URL or ``key=value`` DSN, as given, and the libpq
    parameters it means. ``str()`` is the string as given (hand it to psycopg
    or to a child); ``repr()`` hides the password."""

    raw: str
    params: Mapping[str, str] = field(compare=False)

    @classmethod
    def parse(cls, raw: str) -> DatabaseUrl:
        if "://" in raw and not raw.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"must be a postgresql:// URL, got {raw.split('://', 1)[0]!r}")
        try:
            params = conninfo_to_dict(raw)
        except psycopg.ProgrammingError as exc:
            reason = str(exc).strip()
            raise ValueError("is not a PostgreSQL URL or DSN" + ("" if raw in reason else f" ({reason})")) from None
        return cls(raw, MappingProxyType({k: str(v) for k, v in params.items()}))

    @property
    def host(self) -> str:
        return self.params.get("host") or "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.params.get("port") or 5432)

    @property
    def user(self) -> str:
        return self.params.get("user") or "postgres"

    @property
    def password(self) -> str:
        return self.params.get("password", "")

    @property
    def dbname(self) -> str:
        """libpq's rule: the database defaults to the user's name."""
        return self.params.get("dbname") or self.user

    @property
    def options(self) -> dict[str, str]:
        """Every parameter other than host, port, user, password and dbname."""
        return {k: v for k, v in self.params.items() if k not in CORE}

    def __str__(self) -> str:
        return self.raw

    def __repr__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.options.items())
        secret = ":***" if self.password else ""
        return (
            f"DatabaseUrl('postgresql://{self.user}{secret}@{self.host}:{self.port}/{self.dbname}"
            f"{'?' + query if query else ''}')"
        )


def postgres_url(raw: str) -> DatabaseUrl:
    """Parser for :func:`strangler_settings.env`."""
    return DatabaseUrl.parse(raw)
