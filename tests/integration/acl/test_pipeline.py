"""Real PostgreSQL -> real Debezium (relay) -> Tansu -> ACL consumer -> domain
topics: every captured table, every kind of change, within seconds; poison
rows go to the DLQ while later rows flow."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg
import pytest
from acl_stack_helpers import ROOT, EventTail, Stack

from acl.dlq import read_dead_letters
from acl.topics import DLQ_TOPIC, DOMAIN_TOPICS, existing_topics
from local_stack.processes import wait_until
from new_services.contracts.codec import decode

DEADLINE = 5.0  # "within a couple of seconds", with slack for a loaded 2-core box


@pytest.fixture(scope="module")
def running(stack: Stack) -> Stack:
    stack.sql(  # rows that exist before capture starts: they arrive through the snapshot
        "INSERT INTO smp_plyr (id, usr_id, nm, eml, sts, crt_dt, xtr) VALUES (1, 1, 'alice', 'a@x.org', 'A', localtimestamp, '{\"lvl\": 3}')",
        "INSERT INTO smp_itm (id, sku, nm, cat, rar, act, crt_dt, xtr) VALUES (1, 'WPN-0001', 'Sword', 'WP', 2, 'Y', localtimestamp, '')",
    )
    stack.relay.start()
    stack.consumer.start()
    return stack


@pytest.fixture(scope="module")
def tail(running: Stack):
    t = EventTail(running.kafka.bootstrap_servers, [*DOMAIN_TOPICS, DLQ_TOPIC])
    yield t
    t.close()


def has(tail: EventTail, type_suffix: str, subject: str, n: int = 1):
    return lambda _msgs: len(tail.events(type_suffix, subject)) >= n


def test_snapshot_rows_arrive(running, tail):
    tail.wait_for(has(tail, "PlayerRegistered.v1", "players/1"), 60, "snapshot of player 1")  # JVM start included
    tail.wait_for(has(tail, "ItemCatalogued.v1", "items/1"), DEADLINE, "snapshot of item 1")
    wait_until(
        lambda: running.status()["tables"]["smp_plyr"]["snapshot"] in ("done", "streaming"),
        timeout=10,
        what="status file",
    )


def test_domain_events_are_structured_mode_cloudevents_on_kafka(running, tail):
    """The Kafka protocol binding's structured mode: the record header
    ``content-type: application/cloudevents+json`` tells any CloudEvents
    SDK that the value is the whole event; the contracts' codec reads it."""
    tail.wait_for(has(tail, "PlayerRegistered.v1", "players/1"), 60, "snapshot of player 1")
    domain = [m for m in tail.messages if m["topic"] in DOMAIN_TOPICS]
    assert domain and all(m["headers"].get("content-type") == b"application/cloudevents+json" for m in domain)
    [registered] = [m for m in domain if m["key"] == "players/1"]
    decoded = decode(json.dumps(registered["value"]))
    assert decoded.subject == "players/1" and decoded.event.name == "alice"


def test_players_and_wallets(running, tail):
    running.sql(
        "INSERT INTO smp_plyr (id, usr_id, nm, eml, sts, crt_dt, xtr) VALUES (2, 2, 'bob', '', 'A', localtimestamp, '')",
        "INSERT INTO smp_wlt (id, plyr_id, bal_cp, upd_dt) VALUES (2, 2, 5000, localtimestamp)",
    )
    tail.wait_for(has(tail, "WalletOpened.v1", "wallets/2"), DEADLINE, "wallet opened")
    running.sql("UPDATE smp_wlt SET bal_cp = 7500, upd_dt = localtimestamp WHERE id = 2")
    tail.wait_for(has(tail, "WalletCredited.v1", "wallets/2"), DEADLINE, "credit")
    running.sql("UPDATE smp_wlt SET bal_cp = 7000, upd_dt = localtimestamp WHERE id = 2")
    tail.wait_for(has(tail, "WalletDebited.v1", "wallets/2"), DEADLINE, "debit")
    running.sql("UPDATE smp_plyr SET sts = 'B' WHERE id = 2")
    tail.wait_for(has(tail, "PlayerBanned.v1", "players/2"), DEADLINE, "ban")
    running.sql("DELETE FROM smp_wlt WHERE id = 2", "DELETE FROM smp_plyr WHERE id = 2")
    tail.wait_for(has(tail, "PlayerDeleted.v1", "players/2"), DEADLINE, "hard delete")
    tail.wait_for(has(tail, "WalletClosed.v1", "wallets/2"), DEADLINE, "wallet closed")
    [credit] = tail.events("WalletCredited.v1", "wallets/2")
    assert credit["data"]["amount"] == {"amount": "0.2500", "currency": "GOLD"}
    [registered] = tail.events("PlayerRegistered.v1", "players/2")
    assert registered["data"]["registered_at"].endswith("Z")


def test_items_inventory_listings_sales(running, tail):
    running.sql(
        "INSERT INTO smp_itm (id, sku, nm, cat, rar, act, crt_dt, xtr) VALUES (2, 'MAT-0002', 'Ore', 'MT', 0, 'Y', localtimestamp, '{\"stack\": 50}')"
    )
    tail.wait_for(has(tail, "ItemCatalogued.v1", "items/2"), DEADLINE, "item")
    running.sql("UPDATE smp_itm SET act = 'N' WHERE id = 2")
    tail.wait_for(has(tail, "ItemDeactivated.v1", "items/2"), DEADLINE, "item deactivated")
    running.sql("INSERT INTO smp_inv (id, plyr_id, itm_id, qty) VALUES (1, 1, 1, 5)")
    running.sql("UPDATE smp_inv SET qty = 3 WHERE id = 1")
    running.sql("DELETE FROM smp_inv WHERE id = 1")
    tail.wait_for(has(tail, "InventoryAdjusted.v1", "inventories/1", 3), DEADLINE, "inventory x3")
    assert [e["data"]["delta"] for e in tail.events("InventoryAdjusted.v1", "inventories/1")] == [5, -2, -3]
    running.sql(
        "INSERT INTO smp_lst (id, sllr_id, itm_id, qty, qty_rem, prc_cp, sts, crt_dt, upd_dt)"
        " VALUES (1, 1, 1, 4, 4, 150, 'O', localtimestamp, localtimestamp)"
    )
    tail.wait_for(has(tail, "ListingOpened.v1", "listings/1"), DEADLINE, "listing opened")
    running.sql(
        "INSERT INTO smp_plyr (id, usr_id, nm, eml, sts, crt_dt, xtr) VALUES (3, 3, 'carol', '', 'A', localtimestamp, '')",
        "INSERT INTO smp_sale (id, lst_id, byr_id, sllr_id, itm_id, qty, prc_cp, tot_cp, fee_cp, sld_at)"
        " VALUES (1, 1, 3, 1, 1, 4, 150, 600, 30, localtimestamp)",
        "UPDATE smp_lst SET qty_rem = 0, sts = 'F', upd_dt = localtimestamp WHERE id = 1",
    )
    tail.wait_for(has(tail, "SaleRecorded.v1", "sales/1"), DEADLINE, "sale")
    tail.wait_for(has(tail, "ListingFilled.v1", "listings/1"), DEADLINE, "listing filled")
    [sale] = tail.events("SaleRecorded.v1", "sales/1")
    assert sale["data"]["seller_proceeds"] == {"amount": "0.0570", "currency": "GOLD"}
    running.sql("UPDATE smp_sale SET fee_cp = 29 WHERE id = 1")
    tail.wait_for(has(tail, "SaleCorrected.v1", "sales/1"), DEADLINE, "sale corrected")
    running.sql(
        "INSERT INTO smp_lst (id, sllr_id, itm_id, qty, qty_rem, prc_cp, sts, crt_dt, upd_dt)"
        " VALUES (2, 1, 1, 2, 2, 99, 'O', localtimestamp, localtimestamp)"
    )
    running.sql("UPDATE smp_lst SET sts = 'C', upd_dt = localtimestamp WHERE id = 2")
    tail.wait_for(has(tail, "ListingCancelled.v1", "listings/2"), DEADLINE, "listing cancelled")
    running.sql(
        "DELETE FROM smp_sale WHERE id = 1",
        "DELETE FROM smp_lst WHERE id IN (1, 2)",
        "DELETE FROM smp_itm WHERE id = 2",
    )
    tail.wait_for(has(tail, "SaleVoided.v1", "sales/1"), DEADLINE, "sale voided")
    tail.wait_for(has(tail, "ListingRemoved.v1", "listings/2"), DEADLINE, "listing removed")
    tail.wait_for(has(tail, "ItemRemoved.v1", "items/2"), DEADLINE, "item removed")


def test_poison_row_goes_to_the_dlq_and_later_rows_flow(running, tail):
    running.sql(
        "INSERT INTO smp_plyr (id, usr_id, nm, eml, sts, crt_dt, xtr) VALUES (10, 10, 'poison', '', 'Q', localtimestamp, '')"
    )
    running.sql(
        "INSERT INTO smp_plyr (id, usr_id, nm, eml, sts, crt_dt, xtr) VALUES (11, 11, 'fine', '', 'A', localtimestamp, '')"
    )
    tail.wait_for(has(tail, "PlayerRegistered.v1", "players/11"), DEADLINE, "row after the poison")
    tail.wait_for(lambda msgs: any(m["topic"] == DLQ_TOPIC for m in msgs), DEADLINE, "dead letter")
    letters = list(read_dead_letters(running.kafka.bootstrap_servers))
    [letter] = [lt for lt in letters if json.loads(lt.key or "{}").get("id") == 10]
    assert letter.topic == "legacy.public.smp_plyr" and letter.offset >= 0
    assert "unknown code 'Q'" in letter.reason
    assert all("content-type" not in m["headers"] for m in tail.messages if m["topic"] == DLQ_TOPIC)  # not a CloudEvent
    assert not tail.events("PlayerRegistered.v1", "players/10")
    assert running.relay.alive() and running.consumer.alive()


def test_cli_dlq_list_and_cdc_status(running, tmp_path):
    state = tmp_path / ".strangler"
    state.mkdir()
    (state / "endpoints.json").write_text(
        json.dumps({"kafka": running.kafka.bootstrap_servers, "databases": {"legacy": running.dsn}})
    )
    (state / "cdc").symlink_to(running.state / "cdc")
    cli = [sys.executable, "-m", "strangler_cli"]
    out = subprocess.run(
        [*cli, "acl", "dlq", "list", "--state-dir", str(state), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert any("unknown code 'Q'" in d["reason"] for d in json.loads(out.stdout))
    out = subprocess.run(
        [*cli, "acl", "dlq", "replay", "--state-dir", str(state), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1, out.stderr  # the poison is still untranslatable: reported, not published
    assert any("unknown code 'Q'" in (r["error"] or "") for r in json.loads(out.stdout))
    out = subprocess.run(
        [*cli, "cdc", "status", "--state-dir", str(state), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**running.env},
        check=False,
    )
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["tables"]["smp_plyr"]["events"] >= 3
    assert status["slot"]["retained_wal_bytes"] >= 0


def test_heartbeats_release_wal_written_by_uncaptured_tables(running):
    """Busy uncaptured tables (Django sessions, admin log) must not pin WAL:
    with no captured change to confirm, only the relay's heartbeats move the
    slot's confirmed position past that WAL."""
    slot = running.relay_settings.slot_name
    with psycopg.connect(running.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS hb_uncaptured (id serial PRIMARY KEY, pad text)")
        conn.execute("INSERT INTO hb_uncaptured (pad) SELECT repeat('x', 200) FROM generate_series(1, 20000)")
        written = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]

        def confirmed_past_the_writes() -> bool:
            row = conn.execute(
                "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
                (written, slot),
            ).fetchone()
            return bool(row and row[0])

        wait_until(
            confirmed_past_the_writes, timeout=20, what=f"slot {slot} to confirm past {written} (heartbeat every 2 s)"
        )
    assert running.status()["relay"]["last_heartbeat_ms"] is not None
    assert not [t for t in existing_topics(running.kafka.bootstrap_servers) if t.endswith(".message")]


def test_relay_and_consumer_stop_cleanly_on_sigterm(running):
    assert running.consumer.stop() == 0
    assert running.relay.stop() == 0
    assert running.status()["relay"]["state"] == "stopped"
