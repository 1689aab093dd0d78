"""``python -m legacy_monolith.manage ensure_superuser --username admin --password-file FILE``

Makes sure a superuser exists for the Django admin and that its password is
the one in ``FILE`` (``strangler up`` generates that file, mode 0600, in the
state dir). Idempotent, so the launcher runs it on every start; the password
never appears on a command line or in output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Create or update the admin superuser from a password file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password-file", type=Path, required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            password = options["password_file"].read_text().strip()
        except OSError as exc:
            raise CommandError(f"cannot read --password-file: {exc}") from exc
        if len(password) < 12:
            raise CommandError("the admin password must be at least 12 characters")
        user, created = get_user_model().objects.get_or_create(username=options["username"])
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"superuser {user.username} {'created' if created else 'updated'}")
