"""``seed_market`` at small scale: consistent rows, right sequences, a market
the API can trade on, and the skip/append/force modes."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from legacy_monolith.market.models import Listing, Sale
from legacy_monolith.market.seeding import seed_market
from legacy_monolith.players.models import InventorySlot, Player, Wallet

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 15, 21, 30)


def scalar(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


@pytest.fixture
def seeded():
    return seed_market(players=40, items=12, sales=3_000, rng_seed=7, now=NOW)


def test_counts_and_time_span(seeded) -> None:
    assert not seeded.skipped
    assert (Player.objects.count(), Wallet.objects.count(), Sale.objects.count()) == (40, 40, 3_000)
    assert seeded.listings == Listing.objects.count() > 0
    assert scalar("SELECT count(*) FROM smp_itm") == 12
    oldest, newest = Sale.objects.order_by("sold_at").values_list("sold_at", flat=True)[::2999]
    assert NOW - dt.timedelta(days=30) <= oldest and newest <= NOW


def test_sales_agree_with_their_listings(seeded) -> None:
    assert (
        scalar("""SELECT count(*) FROM smp_sale s JOIN smp_lst l ON l.id = s.lst_id
                      WHERE s.sllr_id <> l.sllr_id OR s.itm_id <> l.itm_id OR s.prc_cp <> l.prc_cp
                         OR s.byr_id = s.sllr_id OR s.tot_cp <> s.qty * s.prc_cp OR s.fee_cp <> s.tot_cp * 5 / 100
                         OR s.sld_at < l.crt_dt""")
        == 0
    )
    assert (
        scalar("""SELECT count(*) FROM smp_lst l
                      WHERE l.qty - l.qty_rem <> (SELECT coalesce(sum(qty), 0) FROM smp_sale s WHERE s.lst_id = l.id)
                         OR (l.sts = 'F') <> (l.qty_rem = 0)""")
        == 0
    )
    assert Listing.objects.filter(status="O").exclude(seller__status="A").count() == 0


def test_wallets_replay_the_gold(seeded) -> None:
    # Every player's balance >= what their trades alone would give (start >= 0).
    assert (
        scalar("""SELECT count(*) FROM smp_wlt w WHERE w.bal_cp <
                       (SELECT coalesce(sum(tot_cp - fee_cp), 0) FROM smp_sale WHERE sllr_id = w.plyr_id)
                     - (SELECT coalesce(sum(tot_cp), 0) FROM smp_sale WHERE byr_id = w.plyr_id)""")
        == 0
    )
    assert InventorySlot.objects.filter(quantity__gt=0).count() >= 40 * 3


def test_the_api_trades_on_seeded_data(seeded) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {seeded.demo_token}")
    demo = Player.objects.get(name=seeded.demo_player)
    Wallet.objects.filter(player=demo).update(balance_copper=10**12)
    listing = Listing.objects.filter(status="O").exclude(seller=demo).order_by("id").first()
    bought = api.post("/api/sales/", {"listing": listing.pk, "quantity": 1}, format="json")
    assert bought.status_code == 201, bought.content
    assert bought.json()["id"] > scalar(f"SELECT max(id) FROM smp_sale WHERE id <> {int(bought.json()['id'])}")
    registered = APIClient().post("/api/players/", {"name": "FreshOne", "password": "long enough"}, format="json")
    assert registered.status_code == 201, registered.content  # sequences moved past the COPYed ids
    rate = api.get(f"/api/items/{listing.item_id}/rate/").json()
    assert rate["last_price"] is not None


def test_second_seed_skips_append_adds_force_replaces(seeded, capsys) -> None:
    again = seed_market(players=5, items=2, sales=10)
    assert again.skipped and "--append" in again.message
    assert Sale.objects.count() == 3_000

    appended = seed_market(players=5, items=2, sales=100, mode="append", rng_seed=1, now=NOW)
    assert not appended.skipped
    assert (Player.objects.count(), Sale.objects.count()) == (45, 3_100)

    replaced = seed_market(players=6, items=3, sales=50, mode="force", rng_seed=2, now=NOW)
    assert not replaced.skipped
    assert (Player.objects.count(), Sale.objects.count(), scalar("SELECT count(*) FROM smp_itm")) == (6, 50, 3)
    assert scalar("SELECT count(*) FROM auth_user") == 6
    assert scalar("SELECT min(id) FROM smp_plyr") == 1  # RESTART IDENTITY


def test_management_command(capsys, tmp_path) -> None:
    token_file = tmp_path / "demo-token"
    call_command(
        "seed_market",
        "--players",
        "10",
        "--items",
        "4",
        "--sales",
        "200",
        "--no-progress",
        "--token-file",
        str(token_file),
    )
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["skipped"] is False and summary["sales"] == 200
    token = token_file.read_text().strip()
    assert len(token) == 40 and token not in out  # the secret goes to the file only
    assert token_file.stat().st_mode & 0o777 == 0o600
    call_command("seed_market", "--if-empty", "--no-progress")  # what `strangler up --seed-sales` runs
    captured = capsys.readouterr()
    assert json.loads(captured.out.strip().splitlines()[-1])["skipped"] is True
    assert "already seeded (10 players, 200 sales)" in captured.err
