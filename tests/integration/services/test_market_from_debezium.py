"""The market's projector fed with what the ACL publishes for changes
captured from a real Debezium (tests/fixtures/debezium/captured.json, put
through the ACL's own translation): the store ends as the legacy rows."""

from __future__ import annotations

import json
from pathlib import Path

from services_support import ListSource
from sqlalchemy import Engine, text

from acl.translation import translate_record
from acl.translators import TranslationError
from new_services.market.domain.clock import MarketClock
from new_services.market.service_layer.projection import MarketProjection, MarketProjector

CAPTURED = Path(__file__).resolve().parents[2] / "fixtures" / "debezium" / "captured.json"
SCENARIOS = (
    "snapshot",
    "player_insert",
    "player_insert_summer",
    "player_update_profile",
    "player_ban",
    "player_reinstate",
    "player_soft_delete",
    "item_insert",
    "item_insert_empty_xtr",
    "item_revise",
    "item_deactivate",
    "item_reactivate",
    "listing_insert",
    "sale_insert",
    "listing_amend",
    "listing_cancel",
    "listing_fill",
    "sale_correct",
    "poison_player_status",
    "poison_sale_total",
)


def acl_messages() -> dict[tuple[str, int], list[bytes | None]]:
    captured = json.loads(CAPTURED.read_text())
    partitions: dict[tuple[str, int], list[bytes | None]] = {}
    for scenario in SCENARIOS:
        for record in captured[scenario]:
            key = record["key"].encode() if record["key"] is not None else None
            value = record["value"].encode() if record["value"] is not None else None
            try:
                outputs = translate_record(key, value)
            except TranslationError:
                continue  # the ACL dead-letters it: never on the domain topics
            for out in outputs:
                partitions.setdefault((out.topic, 0), []).append(out.value)
    return partitions


def test_the_store_ends_as_the_captured_legacy_rows(market_engine: Engine) -> None:
    projector = MarketProjector(
        MarketProjection(MarketClock.named("Europe/Paris")), ListSource(acl_messages()), market_engine
    )
    projector.sync()
    while projector.source.lag():
        projector.run_once()
    with market_engine.connect() as conn:
        players = dict(conn.execute(text("SELECT player_id, status FROM players")).all())
        items = dict(conn.execute(text("SELECT item_id, listable FROM items")).all())
        listings = conn.execute(
            text("SELECT listing_id, quantity, quantity_remaining, status FROM listings ORDER BY 1")
        )
        sales = conn.execute(text("SELECT sale_id, listing_id, quantity, total FROM sales")).all()
    assert players == {100: "A", 1: "A", 2: "D"}
    assert items == {1: True, 2: True}
    assert [tuple(r) for r in listings] == [(1, 10, 6, "C"), (2, 1, 0, "F"), (3, 5, 5, "O")]
    assert [tuple(r) for r in sales] == [(1, 1, 4, 500)]
