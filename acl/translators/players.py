"""Players context: ``smp_plyr``, ``smp_wlt``, ``smp_inv`` -> player, wallet
and inventory events. Spec: legacy_monolith/players/models.py docstring."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from acl.envelope import Change
from acl.translators._common import (
    TranslationError,
    code,
    column,
    json_text,
    legacy_time,
    money,
    non_negative,
    optional_of,
)
from new_services.contracts.events import (
    DomainEvent,
    InventoryAdjusted,
    PlayerBanned,
    PlayerDeleted,
    PlayerProfile,
    PlayerProfileChanged,
    PlayerRegistered,
    PlayerReinstated,
    WalletClosed,
    WalletCredited,
    WalletDebited,
    WalletOpened,
)
from new_services.contracts.values import PlayerStatus

#: Keyed by the legacy code; looked up with whatever the row holds (a foreign value maps to nothing).
STATUS: Mapping[object, PlayerStatus] = {"A": PlayerStatus.ACTIVE, "B": PlayerStatus.BANNED, "D": PlayerStatus.DELETED}
_PROFILE_KEYS = {"guild", "lvl", "lang"}


def profile(row: Mapping[str, Any]) -> PlayerProfile:
    extra = json_text(row, "xtr")
    level = optional_of(extra, "lvl", int, where="xtr")
    if level is not None and level < 0:
        raise TranslationError(f"xtr.lvl is negative ({level})")
    return PlayerProfile(
        guild=optional_of(extra, "guild", str, where="xtr"),
        level=level,
        language=optional_of(extra, "lang", str, where="xtr"),
        other={k: v for k, v in extra.items() if k not in _PROFILE_KEYS},
    )


def _email(row: Mapping[str, Any]) -> str | None:
    return column(row, "eml", str) or None


def _registered(row: Mapping[str, Any], commit_ts_ms: int) -> PlayerRegistered:
    return PlayerRegistered(
        player_id=column(row, "id", int),
        name=column(row, "nm", str),
        email=_email(row),
        status=code(row, "sts", STATUS),
        registered_at=legacy_time(row, "crt_dt", commit_ts_ms),
        profile=profile(row),
    )


def _status_event(player_id: int, before: PlayerStatus | None, after: PlayerStatus) -> DomainEvent:
    if after is PlayerStatus.BANNED:
        return PlayerBanned(player_id=player_id, previous_status=before)
    if after is PlayerStatus.DELETED:
        return PlayerDeleted(player_id=player_id, hard=False)
    return PlayerReinstated(player_id=player_id, previous_status=before)


def player(change: Change) -> list[DomainEvent]:
    ts = change.source.commit_ts_ms
    if change.op in ("c", "r"):
        registered = _registered(change.row, ts)
        events: list[DomainEvent] = [registered]
        if registered.status is not PlayerStatus.ACTIVE:
            events.append(_status_event(registered.player_id, None, registered.status))
        return events
    if change.op == "d":
        return [PlayerDeleted(player_id=column(change.row, "id", int), hard=True)]
    after = change.row
    before = change.before or {}
    player_id = column(after, "id", int)
    events = []
    new_status = code(after, "sts", STATUS)
    old_status = STATUS.get(before.get("sts")) if before else None
    if any(before.get(k) != after.get(k) for k in ("nm", "eml", "xtr")) or not before:
        events.append(
            PlayerProfileChanged(
                player_id=player_id, name=column(after, "nm", str), email=_email(after), profile=profile(after)
            )
        )
    if new_status is not old_status and (before or new_status is not PlayerStatus.ACTIVE):
        events.append(_status_event(player_id, old_status, new_status))
    return events


def wallet(change: Change) -> list[DomainEvent]:
    ts = change.source.commit_ts_ms
    row = change.row
    player_id = column(row, "plyr_id", int)
    if change.op in ("c", "r"):
        return [
            WalletOpened(
                player_id=player_id, balance=money(non_negative(row, "bal_cp")), as_of=legacy_time(row, "upd_dt", ts)
            )
        ]
    if change.op == "d":
        return [WalletClosed(player_id=player_id, final_balance=money(non_negative(row, "bal_cp")))]
    if change.before is None or "bal_cp" not in change.before:
        raise TranslationError("wallet update without a before-image (REPLICA IDENTITY FULL missing on the table?)")
    old, new = non_negative(change.before, "bal_cp"), non_negative(row, "bal_cp")
    if old == new:
        return []
    kind = WalletCredited if new > old else WalletDebited
    return [
        kind(
            player_id=player_id,
            amount=money(abs(new - old)),
            balance=money(new),
            occurred_at=legacy_time(row, "upd_dt", ts),
        )
    ]


def inventory(change: Change) -> list[DomainEvent]:
    row = change.row
    player_id, item_id = column(row, "plyr_id", int), column(row, "itm_id", int)
    if change.op == "r":
        return [
            InventoryAdjusted(
                player_id=player_id,
                item_id=item_id,
                quantity=non_negative(row, "qty"),
                previous_quantity=None,
                delta=None,
            )
        ]
    if change.op == "c":
        qty = non_negative(row, "qty")
        return [InventoryAdjusted(player_id=player_id, item_id=item_id, quantity=qty, previous_quantity=0, delta=qty)]
    if change.before is None or "qty" not in change.before:
        raise TranslationError("inventory change without a before-image (REPLICA IDENTITY FULL missing on the table?)")
    old = non_negative(change.before, "qty")
    new = 0 if change.op == "d" else non_negative(row, "qty")
    if change.op == "u" and old == new:
        return []
    return [
        InventoryAdjusted(player_id=player_id, item_id=item_id, quantity=new, previous_quantity=old, delta=new - old)
    ]
