"""Seed a realistic SMP market fast: players, a catalog, listings and sales.

``seed_market()`` is what ``manage.py seed_market`` (and through it
``strangler up --seed-sales N``) runs. Why it looks the way it does:

* **Fast.** Rows go in with PostgreSQL ``COPY ... FROM STDIN`` through the
  psycopg 3 connection under Django's, one table at a time, inside one
  transaction (a failed seed leaves nothing behind). Ids are allocated here,
  after ``max(id)``, and the identity sequences are moved past them at the end
  (``setval``) so the API's own inserts never collide.
* **Plausible.** Each item has a base price from its category and rarity;
  its trade price random-walks around it (mean-reverting, so a month stays
  within a few tens of percent). Sales cluster in the evening (Paris time),
  cheap items trade much more than legendary ones, and every sale belongs to
  a listing at that listing's price. Listings are mostly filled; the last
  one of each item is usually still open, with some cancelled or expired
  ones in between. Times are naive Europe/Paris, like the monolith writes.
* **Consistent enough for the API.** Wallets are the replay of every
  seeded sale's gold (buyer pays the total, seller gets total minus the 5 %
  fee) on top of a starting balance large enough never to go negative;
  inventories are a plausible snapshot (a few stacks per player), not a
  replay of item movements. Open listings belong to active players, so they
  can be bought through ``POST /api/sales/`` at once.
* **Idempotent-ish.** On a database that already has players or sales,
  ``mode="skip"`` does nothing and says so; ``"append"`` adds a new,
  independent batch (new players, items and sales among them); ``"force"``
  deletes every market/player row (and the auth users and tokens of players)
  first. Staff users are never touched.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import secrets
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from django.db import connection, transaction
from django.utils import timezone

from legacy_monolith.smp.money import gold

SeedMode = Literal["skip", "append", "force"]

BATCH_ROWS = 20_000
MARKET_FEE_PERCENT = 5  # must match settings.SMP_MARKET_FEE_PERCENT; asserted in tests

# --------------------------------------------------------------------------
# catalog vocabulary


@dataclass(frozen=True)
class CategorySpec:
    code: str
    weight: float  # share of the catalog
    trade_factor: float  # how often its items change hands
    base_copper: int  # typical common-rarity unit price
    stack: int  # max units per listing line / inventory stack
    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]
    sku_prefix: str


CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec(
        "WP",
        0.20,
        1.0,
        4_000,
        1,
        (
            "Sword",
            "Longsword",
            "Dagger",
            "Axe",
            "Warhammer",
            "Mace",
            "Spear",
            "Bow",
            "Crossbow",
            "Staff",
            "Wand",
            "Halberd",
            "Scimitar",
            "Flail",
        ),
        (
            "Rusty",
            "Iron",
            "Steel",
            "Silver",
            "Mithril",
            "Obsidian",
            "Dragonbone",
            "Elven",
            "Dwarven",
            "Runed",
            "Bronze",
            "Ashwood",
        ),
        "WPN",
    ),
    CategorySpec(
        "AR",
        0.20,
        1.0,
        3_500,
        1,
        (
            "Helm",
            "Breastplate",
            "Gauntlets",
            "Greaves",
            "Boots",
            "Shield",
            "Cloak",
            "Pauldrons",
            "Bracers",
            "Robe",
            "Hood",
            "Belt",
        ),
        (
            "Leather",
            "Chainmail",
            "Iron",
            "Steel",
            "Scale",
            "Mithril",
            "Silk",
            "Plate",
            "Dragonhide",
            "Padded",
            "Studded",
        ),
        "ARM",
    ),
    CategorySpec(
        "CS",
        0.20,
        2.5,
        200,
        20,
        (
            "Healing Potion",
            "Mana Potion",
            "Elixir of Strength",
            "Antidote",
            "Scroll of Recall",
            "Travel Bread",
            "Roast Boar",
            "Stamina Tonic",
            "Fire Bomb",
            "Smoke Bomb",
        ),
        ("Minor", "Lesser", "Common", "Greater", "Superior", "Major"),
        "CON",
    ),
    CategorySpec(
        "MT",
        0.25,
        3.0,
        50,
        100,
        ("Ore", "Ingot", "Hide", "Cloth", "Timber", "Gem", "Essence", "Thread", "Dust", "Scale"),
        ("Copper", "Iron", "Silver", "Gold", "Mithril", "Rough", "Fine", "Arcane", "Shadow", "Storm"),
        "MAT",
    ),
    CategorySpec(
        "MS",
        0.15,
        0.5,
        1_000,
        10,
        ("Coin", "Relic", "Map Fragment", "Trophy", "Key", "Idol", "Feather", "Lantern", "Dye"),
        ("Ancient", "Tarnished", "Cursed", "Gilded", "Lost", "Strange", "Glowing"),
        "MSC",
    ),
)
RARITY_WEIGHTS = (50, 25, 14, 8, 3)
RARITY_PRICE_FACTOR = (1, 4, 20, 120, 1_000)
RARITY_TRADE_FACTOR = (10.0, 6.0, 3.0, 1.2, 0.4)
RARITY_SUFFIXES = ("", "", " of Valor", " of the Phoenix", " of Eternity")
DESCRIPTIONS = (
    "Well used.",
    "Smells faintly of smoke.",
    "A merchant's favourite.",
    "Found in the old mines.",
    "Crafted in the capital.",
    "Rarely seen outside the guild halls.",
)

# --------------------------------------------------------------------------
# player vocabulary

NAME_HEADS = (
    "Ael",
    "Bran",
    "Cor",
    "Dra",
    "El",
    "Fen",
    "Gor",
    "Hal",
    "Is",
    "Jor",
    "Kae",
    "Lor",
    "Mor",
    "Nym",
    "Or",
    "Pyr",
    "Quen",
    "Ral",
    "Syl",
    "Thal",
    "Ul",
    "Vor",
    "Wyn",
    "Xan",
    "Yr",
    "Zel",
)
NAME_TAILS = (
    "a",
    "ar",
    "dric",
    "en",
    "eth",
    "ia",
    "ion",
    "is",
    "on",
    "or",
    "wen",
    "wyn",
    "ric",
    "mir",
    "dor",
    "iel",
    "ax",
    "us",
)
GUILDS = ("Ravens", "Iron Wolves", "Silver Hand", "Night Owls", "Stormborn", "Golden Lotus")
LANGS = ("fr", "en", "de", "es", "it")
MAIL_DOMAINS = ("example.com", "mail.example.org", "post.example.net")
#: Relative trading activity per hour of the day (Paris time): evenings peak.
HOURLY_ACTIVITY = (
    0.35,
    0.25,
    0.15,
    0.1,
    0.1,
    0.12,
    0.2,
    0.3,
    0.4,
    0.45,
    0.5,
    0.55,
    0.65,
    0.6,
    0.55,
    0.55,
    0.6,
    0.7,
    0.85,
    0.95,
    1.0,
    1.0,
    0.85,
    0.6,
)


class SeedProgress(Protocol):
    """Where progress goes; ``RichProgress`` draws bars on stderr."""

    def start(self, stage: str, total: int) -> None: ...

    def advance(self, stage: str, amount: int) -> None: ...


class SilentProgress:
    def start(self, stage: str, total: int) -> None:
        pass

    def advance(self, stage: str, amount: int) -> None:
        pass


class RichProgress:
    """rich.progress bars on stderr, one per stage, created lazily."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description:>10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start(self, stage: str, total: int) -> None:
        self._tasks[stage] = self._progress.add_task(stage, total=total)

    def advance(self, stage: str, amount: int) -> None:
        self._progress.advance(self._tasks[stage], amount)


@dataclass
class SeedResult:
    """What a seed did. ``demo_token`` lets a demo POST right away."""

    skipped: bool
    message: str
    players: int = 0
    items: int = 0
    listings: int = 0
    sales: int = 0
    seconds: float = 0.0
    demo_player: str | None = None
    demo_token: str | None = None

    @property
    def sales_per_second(self) -> float:
        return self.sales / self.seconds if self.seconds else 0.0


# --------------------------------------------------------------------------
# generated rows (plain tuples in COPY column order)


@dataclass
class _IdRange:
    """Next free id per table, read once under the table lock."""

    user: int
    player: int
    item: int
    listing: int
    sale: int
    slot: int
    wallet: int


@dataclass
class _Catalog:
    ids: list[int] = field(default_factory=list)
    specs: list[CategorySpec] = field(default_factory=list)
    rarities: list[int] = field(default_factory=list)
    base_prices: list[int] = field(default_factory=list)
    trade_weights: list[float] = field(default_factory=list)


@dataclass
class _Players:
    ids: list[int] = field(default_factory=list)
    user_ids: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    active: list[bool] = field(default_factory=list)
    trade_weights: list[float] = field(default_factory=list)


def _player_name(rng: random.Random, taken: set[str], player_id: int) -> str:
    """A fantasy name; a number is appended only on collision, as a game
    would force a new player to do."""
    base = rng.choice(NAME_HEADS) + rng.choice(NAME_TAILS)
    if rng.random() < 0.3:
        base += rng.choice(NAME_TAILS)
    name = base if base not in taken else f"{base}{player_id}"
    taken.add(name)
    return name[:32]


def _player_extra(rng: random.Random) -> str:
    """The ``xtr`` column as the monolith left it over the years."""
    roll = rng.random()
    if roll < 0.1:
        return ""
    if roll < 0.2:
        return "{}"
    extra: dict[str, Any] = {"lvl": rng.randint(1, 60), "lang": rng.choice(LANGS)}
    if rng.random() < 0.6:
        extra["guild"] = rng.choice(GUILDS)
    return json.dumps(extra)


def _pick_status(rng: random.Random) -> str:
    roll = rng.random()
    return "A" if roll < 0.97 else ("B" if roll < 0.995 else "D")


def _item_row(
    rng: random.Random, item_id: int, now: dt.datetime
) -> tuple[tuple[Any, ...], CategorySpec, int, int, float]:
    spec = rng.choices(CATEGORIES, weights=[c.weight for c in CATEGORIES])[0]
    rarity = rng.choices(range(5), weights=RARITY_WEIGHTS)[0]
    name = f"{rng.choice(spec.adjectives)} {rng.choice(spec.nouns)}{RARITY_SUFFIXES[rarity]}"
    base = max(1, round(spec.base_copper * RARITY_PRICE_FACTOR[rarity] * rng.lognormvariate(0, 0.4)))
    trade_weight = RARITY_TRADE_FACTOR[rarity] * spec.trade_factor * rng.lognormvariate(0, 0.5)
    extra = (
        ""
        if rng.random() < 0.1
        else json.dumps({"lvl_req": rng.randint(1, 60), "stack": spec.stack, "desc": rng.choice(DESCRIPTIONS)})
    )
    active = "N" if rng.random() < 0.02 else "Y"
    created = now - dt.timedelta(days=rng.uniform(60, 3650))
    row = (item_id, f"{spec.sku_prefix}-{item_id:05d}", name[:64], spec.code, rarity, active, created, extra)
    return row, spec, rarity, base, trade_weight if active == "Y" else 0.0


def _split(total: int, weights: Sequence[float], rng: random.Random) -> list[int]:
    """Split ``total`` into integer shares proportional to ``weights``."""
    weight_sum = sum(weights) or 1.0
    shares = [int(total * w / weight_sum) for w in weights]
    for index in rng.choices(range(len(weights)), weights=weights, k=total - sum(shares)):
        shares[index] += 1
    return shares


def _activity_times(rng: random.Random, count: int, start: dt.datetime, span_s: float) -> list[float]:
    """``count`` sorted offsets (seconds from ``start``), denser in the
    evening: rejection sampling on the hourly activity profile."""
    start_hour = start.hour + start.minute / 60
    offsets: list[float] = []
    while len(offsets) < count:
        offset = rng.random() * span_s
        hour = int((start_hour + offset / 3600) % 24)
        if rng.random() < HOURLY_ACTIVITY[hour]:
            offsets.append(offset)
    offsets.sort()
    return offsets


# --------------------------------------------------------------------------
# database plumbing


@contextmanager
def _copy(cursor: Any, table: str, columns: Sequence[str]) -> Iterator[Any]:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        yield copy


_SEED_TABLES = ("smp_sale", "smp_lst", "smp_inv", "smp_wlt", "smp_plyr", "smp_itm")
_SEQUENCE_TABLES = ("auth_user", "smp_plyr", "smp_wlt", "smp_inv", "smp_itm", "smp_lst", "smp_sale")


def _counts(cursor: Any) -> tuple[int, int]:
    cursor.execute("SELECT (SELECT count(*) FROM smp_plyr), (SELECT count(*) FROM smp_sale)")
    players, sales = cursor.fetchone()
    return int(players), int(sales)


def _wipe(cursor: Any) -> None:
    """Delete all market and player data, plus the players' auth users and
    tokens; staff accounts stay.

    ``SET CONSTRAINTS ALL IMMEDIATE`` first: TRUNCATE refuses tables with
    deferred FK checks still pending from earlier writes of the transaction.
    """
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("CREATE TEMP TABLE _seed_wipe_users ON COMMIT DROP AS SELECT usr_id FROM smp_plyr")
    cursor.execute(f"TRUNCATE {', '.join(_SEED_TABLES)} RESTART IDENTITY")
    cursor.execute("DELETE FROM authtoken_token WHERE user_id IN (SELECT usr_id FROM _seed_wipe_users)")
    cursor.execute("DELETE FROM auth_user_groups WHERE user_id IN (SELECT usr_id FROM _seed_wipe_users)")
    cursor.execute("DELETE FROM auth_user_user_permissions WHERE user_id IN (SELECT usr_id FROM _seed_wipe_users)")
    cursor.execute("DELETE FROM django_admin_log WHERE user_id IN (SELECT usr_id FROM _seed_wipe_users)")
    cursor.execute("DELETE FROM auth_user WHERE id IN (SELECT usr_id FROM _seed_wipe_users)")


def _next_ids(cursor: Any) -> _IdRange:
    def next_id(table: str) -> int:
        cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")
        return int(cursor.fetchone()[0])

    return _IdRange(
        user=next_id("auth_user"),
        player=next_id("smp_plyr"),
        item=next_id("smp_itm"),
        listing=next_id("smp_lst"),
        sale=next_id("smp_sale"),
        slot=next_id("smp_inv"),
        wallet=next_id("smp_wlt"),
    )


def _fix_sequences(cursor: Any) -> None:
    """Move every identity sequence past the ids COPY wrote explicitly."""
    for table in _SEQUENCE_TABLES:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 0) + 1, false) FROM {table}"
        )


# --------------------------------------------------------------------------
# the seeder


class _Seeder:
    """One seeding run; methods write one table each, in FK order."""

    def __init__(
        self, *, cursor: Any, rng: random.Random, now: dt.datetime, days: int, progress: SeedProgress, ids: _IdRange
    ) -> None:
        self.cursor = cursor
        self.rng = rng
        self.now = now
        self.start = now - dt.timedelta(days=days)
        self.span_s = days * 86_400.0
        self.progress = progress
        self.ids = ids
        self.catalog = _Catalog()
        self.players = _Players()
        self.net_copper: list[int] = []
        self.listings = 0
        self.demo_token: str | None = None

    def seed_players(self, count: int) -> None:
        rng, players = self.rng, self.players
        cursor = self.cursor
        cursor.execute("SELECT nm FROM smp_plyr")
        taken = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT username FROM auth_user")
        taken |= {row[0] for row in cursor.fetchall()}
        rows: list[tuple[Any, ...]] = []
        users: list[tuple[Any, ...]] = []
        tokens: list[tuple[Any, ...]] = []
        for offset in range(count):
            player_id, user_id = self.ids.player + offset, self.ids.user + offset
            name = _player_name(rng, taken, player_id)
            email = "" if rng.random() < 0.2 else f"{name.lower()}@{rng.choice(MAIL_DOMAINS)}"
            status = _pick_status(rng)
            created = self.now - dt.timedelta(days=rng.uniform(31, 900), seconds=rng.uniform(0, 86_400))
            users.append(
                (user_id, "!" + secrets.token_urlsafe(30), False, name, "", "", email, False, status != "D", created)
            )
            rows.append((player_id, user_id, name, email, status, created, _player_extra(rng)))
            token = secrets.token_hex(20)
            tokens.append((token, user_id, created))
            if self.demo_token is None and status == "A":
                self.demo_token = token
            players.ids.append(player_id)
            players.user_ids.append(user_id)
            players.names.append(name)
            players.active.append(status == "A")
            players.trade_weights.append(rng.paretovariate(1.5))
        self.net_copper = [0] * count
        self._write(
            "players",
            "auth_user",
            (
                "id",
                "password",
                "is_superuser",
                "username",
                "first_name",
                "last_name",
                "email",
                "is_staff",
                "is_active",
                "date_joined",
            ),
            users,
        )
        self._write(None, "smp_plyr", ("id", "usr_id", "nm", "eml", "sts", "crt_dt", "xtr"), rows)
        self._write(None, "authtoken_token", ("key", "user_id", "created"), tokens)

    def seed_items(self, count: int) -> None:
        rows = []
        for offset in range(count):
            item_id = self.ids.item + offset
            row, spec, rarity, base, weight = _item_row(self.rng, item_id, self.now)
            rows.append(row)
            self.catalog.ids.append(item_id)
            self.catalog.specs.append(spec)
            self.catalog.rarities.append(rarity)
            self.catalog.base_prices.append(base)
            self.catalog.trade_weights.append(weight)
        self._write("items", "smp_itm", ("id", "sku", "nm", "cat", "rar", "act", "crt_dt", "xtr"), rows)

    def seed_market(self, sales: int) -> None:
        """Sales (streamed by COPY) and their listings (buffered, written after)."""
        weights = self.catalog.trade_weights
        shares = _split(sales, weights if any(weights) else [1.0] * len(weights), self.rng)
        listing_rows: list[tuple[Any, ...]] = []
        self.progress.start("sales", sales)
        sale_columns = ("id", "lst_id", "byr_id", "sllr_id", "itm_id", "qty", "prc_cp", "tot_cp", "fee_cp", "sld_at")
        with _copy(self.cursor, "smp_sale", sale_columns) as copy:
            for index, share in enumerate(shares):
                written = 0
                for row in self._item_sales(index, share, listing_rows):
                    copy.write_row(row)
                    written += 1
                    if written % BATCH_ROWS == 0:
                        self.progress.advance("sales", BATCH_ROWS)
                self.progress.advance("sales", written % BATCH_ROWS)
                listing_rows.extend(self._idle_listings(index))
        self.listings = len(listing_rows)
        self._write(
            "listings",
            "smp_lst",
            ("id", "sllr_id", "itm_id", "qty", "qty_rem", "prc_cp", "sts", "crt_dt", "upd_dt"),
            listing_rows,
        )

    def _pick_player(self, *, active_only: bool, exclude: int | None = None) -> int:
        """Index of a player, weighted towards the busy traders."""
        players = self.players
        for _ in range(50):
            index = self.rng.choices(range(len(players.ids)), cum_weights=self._cum_weights)[0]
            if index != exclude and (players.active[index] or not active_only):
                return index
        for index in range(len(players.ids)):  # tiny populations: first acceptable one
            if index != exclude and (players.active[index] or not active_only):
                return index
        raise ValueError("seeding needs at least two active players")

    @property
    def _cum_weights(self) -> list[float]:
        cached = getattr(self, "_cum_cache", None)
        if cached is None:
            total, cached = 0.0, []
            for weight in self.players.trade_weights:
                total += weight
                cached.append(total)
            self._cum_cache = cached
        return cached

    def _next_listing_id(self) -> int:
        listing_id = self.ids.listing
        self.ids.listing += 1
        return listing_id

    def _item_sales(self, index: int, count: int, listing_rows: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        """Yield ``count`` sale rows of one item and append their listings.

        A listing is opened at the current walked price; sales fill it in
        time order; when it empties a new one opens at the next price step.
        """
        if count == 0:
            return
        rng, spec = self.rng, self.catalog.specs[index]
        item_id, base = self.catalog.ids[index], self.catalog.base_prices[index]
        log_base = math.log(base)
        log_price = log_base + rng.gauss(0, 0.1)
        offsets = _activity_times(rng, count, self.start, self.span_s)
        position = 0
        while position < count:
            log_price += 0.05 * (log_base - log_price) + rng.gauss(0, 0.04)
            price = max(1, round(math.exp(log_price)))
            seller = self._pick_player(active_only=False)
            listing_id = self._next_listing_id()
            quantity = rng.randint(1, 3) if spec.stack == 1 else rng.choice((5, 10, 20, 50, 100, 200))
            remaining = quantity
            first_at = self.start + dt.timedelta(seconds=offsets[position])
            last_at = first_at
            while remaining and position < count:
                bought = 1 if spec.stack == 1 else min(remaining, rng.randint(1, spec.stack))
                buyer = self._pick_player(active_only=False, exclude=seller)
                total = bought * price
                fee = total * MARKET_FEE_PERCENT // 100
                self.net_copper[buyer] -= total
                self.net_copper[seller] += total - fee
                last_at = self.start + dt.timedelta(seconds=offsets[position])
                yield (
                    self.ids.sale,
                    listing_id,
                    self.players.ids[buyer],
                    self.players.ids[seller],
                    item_id,
                    bought,
                    price,
                    total,
                    fee,
                    last_at,
                )
                self.ids.sale += 1
                remaining -= bought
                position += 1
            still_open = remaining > 0 and self.players.active[seller]
            created = first_at - dt.timedelta(seconds=rng.uniform(60, 6 * 3600))
            listing_rows.append(
                (
                    listing_id,
                    self.players.ids[seller],
                    item_id,
                    quantity,
                    remaining,
                    price,
                    "O" if still_open else ("F" if remaining == 0 else "X"),
                    created,
                    last_at,
                )
            )

    def _idle_listings(self, index: int) -> list[tuple[Any, ...]]:
        """Listings nobody bought from: a few open now, some cancelled or
        expired in the past month (their items went back or stay lost)."""
        rng, spec = self.rng, self.catalog.specs[index]
        if not self.catalog.trade_weights[index]:
            return []
        rows = []
        for status in ("O", rng.choice(("O", "C", "X", "C"))):
            seller = self._pick_player(active_only=True)
            quantity = rng.randint(1, 3) if spec.stack == 1 else rng.choice((5, 10, 20, 50))
            price = max(1, round(self.catalog.base_prices[index] * rng.uniform(0.95, 1.25)))
            created = self.now - dt.timedelta(seconds=rng.uniform(600, 2 * 86_400 if status == "O" else self.span_s))
            rows.append(
                (
                    self._next_listing_id(),
                    self.players.ids[seller],
                    self.catalog.ids[index],
                    quantity,
                    quantity,
                    price,
                    status,
                    created,
                    created,
                )
            )
        return rows

    def seed_wallets_and_inventory(self) -> None:
        """Wallets replay the seeded trades on top of a starting balance;
        inventories are a handful of stacks per player."""
        rng = self.rng
        wallets = []
        for offset, net in enumerate(self.net_copper):
            start = round(gold(200) * rng.lognormvariate(0, 0.8))
            balance = net + start if net + start > 0 else start
            wallets.append((self.ids.wallet + offset, self.players.ids[offset], balance, self.now))
        self._write("wallets", "smp_wlt", ("id", "plyr_id", "bal_cp", "upd_dt"), wallets)
        slots = []
        slot_id = self.ids.slot
        item_count = len(self.catalog.ids)
        for player_id in self.players.ids:
            for index in rng.sample(range(item_count), k=min(item_count, rng.randint(3, 12))):
                stack = self.catalog.specs[index].stack
                quantity = rng.randint(1, 3) if stack == 1 else rng.randint(1, stack * 3)
                slots.append((slot_id, player_id, self.catalog.ids[index], quantity))
                slot_id += 1
        self._write("inventory", "smp_inv", ("id", "plyr_id", "itm_id", "qty"), slots)

    def _write(self, stage: str | None, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        if stage:
            self.progress.start(stage, len(rows))
        with _copy(self.cursor, table, columns) as copy:
            for start in range(0, len(rows), BATCH_ROWS):
                for row in rows[start : start + BATCH_ROWS]:
                    copy.write_row(row)
                if stage:
                    self.progress.advance(stage, len(rows[start : start + BATCH_ROWS]))


def seed_market(
    *,
    players: int,
    items: int,
    sales: int,
    mode: SeedMode = "skip",
    progress: SeedProgress | None = None,
    days: int = 30,
    rng_seed: int | None = None,
    now: dt.datetime | None = None,
) -> SeedResult:
    """Seed the market on Django's default database; see the module docstring.

    ``progress`` receives per-stage progress (``RichProgress()`` for bars on
    stderr); ``rng_seed`` makes the data reproducible (tokens excepted).
    """
    if sales and (players < 2 or items < 1):
        raise ValueError("sales need at least 2 players and 1 item")
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as django_cursor:
        cursor = django_cursor.connection.cursor()  # the psycopg 3 cursor, for COPY
        cursor.execute(f"LOCK TABLE {', '.join(_SEED_TABLES)}, auth_user, authtoken_token IN SHARE ROW EXCLUSIVE MODE")
        existing_players, existing_sales = _counts(cursor)
        if (existing_players or existing_sales) and mode == "skip":
            return SeedResult(
                skipped=True,
                message=(
                    f"already seeded ({existing_players} players, {existing_sales} sales): nothing done; "
                    "use --append to add a batch or --force to wipe and reseed"
                ),
            )
        if mode == "force":
            _wipe(cursor)
        # Sales are COPYed before their listings: FK checks wait for COMMIT.
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        seeder = _Seeder(
            cursor=cursor,
            rng=random.Random(rng_seed),
            now=now or timezone.now(),
            days=days,
            progress=progress or SilentProgress(),
            ids=_next_ids(cursor),
        )
        seeder.seed_players(players)
        seeder.seed_items(items)
        seeder.seed_market(sales)
        seeder.seed_wallets_and_inventory()
        _fix_sequences(cursor)
    with connection.cursor() as cursor:  # fresh statistics, or the planner guesses on a million new rows
        cursor.execute(f"ANALYZE {', '.join(_SEED_TABLES)}")
    seconds = time.monotonic() - started
    demo = seeder.players.names[seeder.players.active.index(True)] if any(seeder.players.active) else None
    return SeedResult(
        skipped=False,
        message=f"seeded {players} players, {items} items, {seeder.listings} listings, {sales} sales "
        f"in {seconds:.1f} s",
        players=players,
        items=items,
        listings=seeder.listings,
        sales=sales,
        seconds=seconds,
        demo_player=demo,
        demo_token=seeder.demo_token if demo else None,
    )
