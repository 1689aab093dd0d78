"""``python -m legacy_monolith.manage seed_market --players N --items N --sales N``

Fills the market with realistic data through PostgreSQL COPY (see
``legacy_monolith.market.seeding``). On an already seeded database it does
nothing and says so (exit 0), unless ``--append`` (add an independent batch)
or ``--force`` (wipe players/market data, keep staff users) is given. The
last stdout line is a JSON summary. The demo player's API token is never
printed (terminal output ends up in logs); ``--token-file PATH`` writes it to
a file readable by its owner only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from legacy_monolith.market.seeding import RichProgress, SeedResult, seed_market


class Command(BaseCommand):
    help = "Seed players, items, listings and sales (fast, via COPY)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--players", type=int, default=1_000)
        parser.add_argument("--items", type=int, default=200)
        parser.add_argument("--sales", type=int, default=100_000)
        parser.add_argument("--days", type=int, default=30, help="spread sales over the last N days")
        parser.add_argument("--rng-seed", type=int, default=None, help="reproducible data")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--if-empty", action="store_true", help="the default: skip (exit 0) when players or sales already exist"
        )
        mode.add_argument("--append", action="store_true", help="add a batch to a seeded database")
        mode.add_argument("--force", action="store_true", help="wipe player and market data first")
        parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
        parser.add_argument(
            "--token-file", type=Path, default=None, help="write the demo player's API token here (mode 0600)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("players", "items", "sales", "days"):
            if options[name] < 0 or (name == "days" and options[name] < 1):
                raise CommandError(f"--{name} must be positive")
        mode = "force" if options["force"] else "append" if options["append"] else "skip"
        kwargs = {
            "players": options["players"],
            "items": options["items"],
            "sales": options["sales"],
            "mode": mode,
            "days": options["days"],
            "rng_seed": options["rng_seed"],
        }
        try:
            if options["no_progress"]:
                result = seed_market(**kwargs)
            else:
                with RichProgress() as progress:
                    result = seed_market(progress=progress, **kwargs)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(result.message)
        if options["token_file"] is not None and result.demo_token:
            _write_private(options["token_file"], result.demo_token)
        self.stdout.write(json.dumps(_summary(result)))


def _write_private(path: Path, secret: str) -> None:
    """Replace ``path`` with ``secret``, readable by its owner only."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")


def _summary(result: SeedResult) -> dict[str, Any]:
    return {
        "skipped": result.skipped,
        "players": result.players,
        "items": result.items,
        "listings": result.listings,
        "sales": result.sales,
        "seconds": round(result.seconds, 2),
        "sales_per_second": round(result.sales_per_second),
        "demo_player": result.demo_player,
    }
