"""Model fields that keep the legacy schema honest.

Django's PostgreSQL backend always creates ``timestamp with time zone`` for a
``DateTimeField``, even with ``USE_TZ = False``. The SMP schema spec (the
models' module docstrings, which the anti-corruption layer translates from)
says timestamps are stored **naive**, in Europe/Paris wall-clock time, as the
monolith has always done. ``NaiveDateTimeField`` makes the column what the
spec says: ``timestamp without time zone``. CDC then carries the local wall
time, DST ambiguity included, which is exactly the smell the ACL must undo.
"""

from __future__ import annotations

from typing import Any

from django.db import models


class NaiveDateTimeField(models.DateTimeField):
    """A ``DateTimeField`` stored as ``timestamp without time zone``."""

    description = "Date (with time), naive, server local zone"

    def db_type(self, connection: Any) -> str:
        if connection.vendor == "postgresql":
            return "timestamp"
        return super().db_type(connection)
