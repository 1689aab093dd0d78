"""Translators on payloads captured from the real connector (one scripted
write per label, see tests/fixtures/debezium/capture.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from acl.envelope import parse_change
from acl.translators import TranslationError, translate
from new_services.contracts.codec import data_of as payload
from new_services.contracts.events import DomainEvent


def events_of(captured: dict[str, list[dict[str, Any]]], label: str) -> list[DomainEvent]:
    out: list[DomainEvent] = []
    for record in captured[label]:
        change = parse_change(record["key"], record["value"])
        if change is not None:
            out.extend(translate(change))
    return out


def data_of(captured: dict[str, list[dict[str, Any]]], label: str) -> list[tuple[str, dict[str, Any]]]:
    return [(e.type_name(), payload(e)) for e in events_of(captured, label)]


def test_snapshot_read_registers_the_existing_player(captured):
    [(kind, data)] = data_of(captured, "snapshot")
    assert kind == "PlayerRegistered.v1"
    assert data["player_id"] == 100
    assert data["email"] is None
    assert data["registered_at"] == "2024-01-15T09:00:00.000000Z"  # winter: Paris = UTC+1


def test_player_insert_parses_profile_and_resolves_ambiguous_autumn_time(captured):
    [(kind, data)] = data_of(captured, "player_insert")
    assert kind == "PlayerRegistered.v1"
    assert data["name"] == "alice" and data["status"] == "active"
    assert data["profile"] == {"guild": "Ravens", "level": 12, "language": "fr", "other": {"title": "Baroness"}}
    # 02:30 on 2024-10-27 happens twice in Paris; far from the commit time we take the first (CEST).
    assert data["registered_at"] == "2024-10-27T00:30:00.000000Z"


def test_summer_time_and_empty_profile(captured):
    [(_, data)] = data_of(captured, "player_insert_summer")
    assert data["registered_at"] == "2024-07-14T10:00:00.000000Z"  # summer: UTC+2
    assert data["profile"] == {"guild": None, "level": None, "language": None, "other": {}}


def test_player_updates(captured):
    assert [k for k, _ in data_of(captured, "player_update_profile")] == ["PlayerProfileChanged.v1"]
    assert data_of(captured, "player_update_profile")[0][1]["profile"]["guild"] == "Wolves"
    assert data_of(captured, "player_ban") == [("PlayerBanned.v1", {"player_id": 1, "previous_status": "active"})]
    assert data_of(captured, "player_reinstate") == [
        ("PlayerReinstated.v1", {"player_id": 1, "previous_status": "banned"})
    ]
    assert data_of(captured, "player_soft_delete") == [("PlayerDeleted.v1", {"player_id": 2, "hard": False})]


def test_wallet_credit_and_debit_from_before_and_after_images(captured):
    [(kind, opened)] = data_of(captured, "wallet_insert")
    assert kind == "WalletOpened.v1"
    assert opened["balance"] == {"amount": "1.0000", "currency": "GOLD"}
    assert opened["as_of"] == "2024-03-31T00:59:59.000000Z"  # last second of winter time
    [(kind, credit)] = data_of(captured, "wallet_credit")
    assert kind == "WalletCredited.v1"
    assert credit["amount"] == {"amount": "0.2550", "currency": "GOLD"}
    assert credit["balance"] == {"amount": "1.2550", "currency": "GOLD"}
    assert credit["occurred_at"] == "2024-03-31T01:00:01.000000Z"  # first second of summer time
    [(kind, debit)] = data_of(captured, "wallet_debit")
    assert kind == "WalletDebited.v1"
    assert debit["amount"]["amount"] == "0.0001" and debit["balance"]["amount"] == "1.2549"


def test_item_events(captured):
    [(kind, item)] = data_of(captured, "item_insert")
    assert kind == "ItemCatalogued.v1"
    assert (item["category"], item["rarity"], item["listable"]) == ("weapon", "epic", True)
    assert item["attributes"] == {"level_required": 10, "stack_size": 1, "description": "A rusty blade", "other": {}}
    assert item["catalogued_at"] == "2024-02-29T22:30:00.000000Z"
    assert [k for k, _ in data_of(captured, "item_revise")] == ["ItemRevised.v1"]
    assert [k for k, _ in data_of(captured, "item_deactivate")] == ["ItemDeactivated.v1"]
    assert [k for k, _ in data_of(captured, "item_reactivate")] == ["ItemReactivated.v1"]
    assert data_of(captured, "item_delete") == [("ItemRemoved.v1", {"item_id": 1})]


def test_inventory_adjustments(captured):
    assert data_of(captured, "inventory_insert") == [
        ("InventoryAdjusted.v1", {"player_id": 1, "item_id": 2, "quantity": 40, "previous_quantity": 0, "delta": 40})
    ]
    assert data_of(captured, "inventory_update")[0][1]["delta"] == -10
    assert data_of(captured, "inventory_delete")[0][1] == {
        "player_id": 1,
        "item_id": 2,
        "quantity": 0,
        "previous_quantity": 30,
        "delta": -30,
    }


def test_listing_lifecycle(captured):
    [(kind, opened)] = data_of(captured, "listing_insert")
    assert kind == "ListingOpened.v1"
    assert opened["unit_price"] == {"amount": "0.0125", "currency": "GOLD"}
    assert [k for k, _ in data_of(captured, "listing_amend")] == ["ListingAmended.v1"]
    [(kind, cancelled)] = data_of(captured, "listing_cancel")
    assert kind == "ListingCancelled.v1" and cancelled["quantity_returned"] == 6
    assert [k for k, _ in data_of(captured, "listing_fill")] == [
        "ListingOpened.v1",
        "ListingAmended.v1",
        "ListingFilled.v1",
    ]
    assert data_of(captured, "listing_delete") == [("ListingRemoved.v1", {"listing_id": 1})]


def test_a_snapshotted_open_listing_changed_since_it_opened_carries_its_update_time(captured):
    """The snapshot of an open listing that sold before it: ``ListingOpened``
    has no field for ``upd_dt``, so an amendment follows with it."""
    record = dict(captured["listing_insert"][0])
    value = json.loads(record["value"])
    value["op"] = "r"
    value["after"] |= {"qty_rem": 7, "upd_dt": value["after"]["crt_dt"] + 3_600_000_000}
    record["value"] = json.dumps(value)
    kinds_and_data = data_of({"snap": [record]}, "snap")
    assert [kind for kind, _ in kinds_and_data] == ["ListingOpened.v1", "ListingAmended.v1"]
    opened, amended = kinds_and_data[0][1], kinds_and_data[1][1]
    assert amended["quantity_remaining"] == 7 and amended["status"] == "open"
    assert (
        amended["amended_at"] == "2024-06-01T11:00:00.000000Z" and opened["opened_at"] == "2024-06-01T10:00:00.000000Z"
    )


def test_sale_recorded_with_money_objects(captured):
    [(kind, sale)] = data_of(captured, "sale_insert")
    assert kind == "SaleRecorded.v1"
    assert sale["total"]["amount"] == "0.0500" and sale["fee"]["amount"] == "0.0025"
    assert sale["seller_proceeds"]["amount"] == "0.0475"
    assert sale["sold_at"] == "2024-06-01T10:05:00.000000Z"
    assert [k for k, _ in data_of(captured, "sale_correct")] == ["SaleCorrected.v1"]
    assert data_of(captured, "sale_delete") == [("SaleVoided.v1", {"sale_id": 1, "listing_id": 1})]


def test_hard_delete_of_player(captured):
    kinds = [k for k, _ in data_of(captured, "player_delete")]
    assert kinds == ["ListingRemoved.v1", "PlayerDeleted.v1"]


@pytest.mark.parametrize(
    "label, reason",
    [
        ("poison_player_status", "unknown code 'Z'"),
        ("poison_item_xtr", "not valid JSON"),
    ],
)
def test_poison_rows_raise_a_translation_error(captured, label, reason):
    with pytest.raises(TranslationError, match=reason):
        events_of(captured, label)


def test_poison_sale_total_is_rejected_but_its_listing_is_fine(captured):
    listing, sale = [r for r in captured["poison_sale_total"] if r["value"]]
    assert [e.type_name() for e in translate(parse_change(listing["key"], listing["value"]))] == ["ListingOpened.v1"]
    with pytest.raises(TranslationError, match="tot_cp 999"):
        translate(parse_change(sale["key"], sale["value"]))


def test_translators_are_pure(captured):
    record = captured["sale_insert"][0]
    first = translate(parse_change(record["key"], record["value"]))
    assert first == translate(parse_change(record["key"], record["value"]))
