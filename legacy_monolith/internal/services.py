"""Write side of the ``/_internal/`` API: settlements and escrow for the
market service's sagas (docs/market-write-side.md), idempotent by key.

Every operation is one transaction:

1. **claim the key**: ``INSERT ... ON CONFLICT DO NOTHING`` then
   ``SELECT ... FOR UPDATE`` of its row in ``strangler_internal_op``. A
   second call with the same key waits on the first one's insert, then finds
   the row decided and replays its answer: one key applies once.
2. the effect, with the market's lock order (``market/services.py``):
   wallets in player-id order, then inventory slots; the fee is
   ``market_fee``; refusals are the existing ``ApplicationError`` classes.
   It runs in a savepoint so a refusal rolls back the effect only and is
   recorded as the key's answer (a repeat gets the same refusal).
3. the key's state and answer, committed with the effect.

Answers are :class:`Answer` (HTTP status + JSON body); the API renders them.
Only the misuse of a key raises: ``IdempotencyKeyReused`` (422, same key,
other request or operation) and ``SettlementReversed`` (409, an apply on a
reversed or tombstoned key); neither is recorded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from legacy_monolith.catalog.models import Item
from legacy_monolith.internal.models import InternalOperation, OperationKind, OperationState
from legacy_monolith.market.services import market_fee
from legacy_monolith.players.models import Player
from legacy_monolith.players.services import (
    inventory_grant,
    inventory_take,
    player_require_active,
    wallet_credit,
    wallet_debit,
    wallets_lock,
)
from legacy_monolith.smp.exceptions import (
    ApplicationError,
    IdempotencyKeyReused,
    NotFound,
    SelfTrade,
    SettlementReversed,
)

ESCROW_TAKE = "take"
ESCROW_RETURN = "return"


@dataclass(frozen=True)
class Answer:
    """What the caller gets; ``replayed`` when it was recorded earlier."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


def request_fingerprint(*, kind: str, request: dict[str, Any]) -> str:
    canonical = json.dumps({"kind": kind, **request}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


_CLAIM_SQL = """
    INSERT INTO strangler_internal_op
           (key, kind, fingerprint, request, state, status, body, reversal, created_at, updated_at)
    VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s::jsonb, %s::jsonb, now(), now())
    ON CONFLICT (key) DO NOTHING
"""


def _claim(
    *,
    key: str,
    kind: str,
    fingerprint: str,
    request: dict[str, Any],
    state: str = OperationState.PENDING,
    status: int | None = None,
    body: dict[str, Any] | None = None,
    reversal: dict[str, Any] | None = None,
) -> tuple[InternalOperation, bool]:
    """Insert the key's row unless it exists, then lock it. Returns the row
    and whether this call created it. Must run inside a transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL,
            [
                key,
                kind,
                fingerprint,
                json.dumps(request),
                state,
                status,
                None if body is None else json.dumps(body),
                None if reversal is None else json.dumps(reversal),
            ],
        )
        created = cursor.rowcount == 1
    return InternalOperation.objects.select_for_update().get(key=key), created


def _refusal_body(exc: ApplicationError) -> dict[str, Any]:
    """The body the DRF exception handler would render (smp/exceptions.py)."""
    return {"detail": exc.message, "code": exc.code, "extra": exc.extra}


def _key_reused(*, key: str, op: InternalOperation) -> IdempotencyKeyReused:
    return IdempotencyKeyReused(
        f"Key {key!r} was already used for another {op.kind} request; use a new key for a new operation.",
        extra={"key": key, "kind": op.kind},
    )


def _apply(*, key: str, kind: str, request: dict[str, Any], effect: Any) -> Answer:
    """Claim ``key``, replay or run ``effect()`` (returns the 200 body) in a
    savepoint, record the answer. Call inside ``transaction.atomic``."""
    fingerprint = request_fingerprint(kind=kind, request=request)
    op, created = _claim(key=key, kind=kind, fingerprint=fingerprint, request=request)
    if not created:
        if op.state == OperationState.REVERSED and op.kind == kind == OperationKind.SETTLEMENT:
            raise SettlementReversed(
                f"Settlement {key!r} was reversed; it cannot be applied.", extra={"key": key, "reversal": op.reversal}
            )
        if op.kind != kind or op.fingerprint != fingerprint:
            raise _key_reused(key=key, op=op)
        return Answer(status=op.status or 200, body=op.body or {}, replayed=True)
    try:
        with transaction.atomic():
            answer = Answer(status=200, body=effect())
        op.state = OperationState.APPLIED
    except ApplicationError as exc:
        answer = Answer(status=exc.status_code, body=_refusal_body(exc))
        op.state = OperationState.REFUSED
    op.status, op.body = answer.status, answer.body
    op.save(update_fields=["state", "status", "body", "updated_at"])
    return answer


def _item_require(*, item_id: int) -> None:
    if not Item.objects.filter(pk=item_id).exists():
        raise NotFound(f"Item {item_id} not found.", extra={"item_id": item_id})


def _player(*, player_id: int) -> Player:
    player = Player.objects.filter(pk=player_id).first()
    if player is None:
        raise NotFound(f"Player {player_id} not found.", extra={"player_id": player_id})
    return player


@transaction.atomic
def settlement_apply(
    *, key: str, buyer_id: int, seller_id: int, item_id: int, quantity: int, total_copper: int
) -> Answer:
    """Settle a market sale: the buyer pays ``total_copper``, the seller gets
    it minus ``market_fee``, the buyer receives ``quantity`` of the item
    (the items left the seller at escrow time). Refusals as ``sale_record``:
    403 ``player_banned`` (buyer, then seller), 409 ``self_trade``,
    409 ``insufficient_funds``; 404 ``not_found`` for an unknown player or item."""
    request = {
        "buyer_id": buyer_id,
        "seller_id": seller_id,
        "item_id": item_id,
        "quantity": quantity,
        "total_copper": total_copper,
    }

    def effect() -> dict[str, Any]:
        buyer, seller = _player(player_id=buyer_id), _player(player_id=seller_id)
        player_require_active(player=buyer, role="buyer")
        player_require_active(player=seller, role="seller")
        if buyer_id == seller_id:
            raise SelfTrade("A player cannot buy from themselves.", extra={"player_id": buyer_id})
        _item_require(item_id=item_id)
        fee = market_fee(total_copper=total_copper)
        wallets = wallets_lock(player_ids=[buyer_id, seller_id])
        wallet_debit(wallet=wallets[buyer_id], amount_copper=total_copper)
        wallet_credit(wallet=wallets[seller_id], amount_copper=total_copper - fee)
        inventory_grant(player_id=buyer_id, item_id=item_id, quantity=quantity)
        return {"key": key, "fee_copper": fee, "seller_proceeds_copper": total_copper - fee, "status": "applied"}

    return _apply(key=key, kind=OperationKind.SETTLEMENT, request=request, effect=effect)


@transaction.atomic
def settlement_reverse(*, key: str) -> Answer:
    """Undo settlement ``key``: the buyer gets ``total`` back, the seller
    gives the proceeds back, the buyer's items are taken back (wallets in
    player-id order, then inventory). Idempotent: a repeat replays the
    first reversal's answer.

    A key never applied (unknown, or refused) is marked reversed without
    moving anything (``"undone": false``); for an unknown key that row is a
    tombstone refusing a late apply. If the seller already spent the
    proceeds or the buyer no longer holds the items, the reversal is
    refused (409 ``insufficient_funds``/``insufficient_inventory``), nothing
    changes and the key stays applied, so it can be retried.
    """
    tombstone = {"key": key, "status": "reversed", "undone": False}
    op, created = _claim(
        key=key,
        kind=OperationKind.SETTLEMENT,
        fingerprint="",
        request={},
        state=OperationState.REVERSED,
        reversal=tombstone,
    )
    if created:
        return Answer(status=200, body=tombstone)
    if op.kind != OperationKind.SETTLEMENT:
        raise _key_reused(key=key, op=op)
    if op.state == OperationState.REVERSED:
        return Answer(status=200, body=op.reversal or tombstone, replayed=True)
    undone = op.state == OperationState.APPLIED
    if undone:
        request, body = op.request, op.body or {}
        buyer_id, seller_id = request["buyer_id"], request["seller_id"]
        wallets = wallets_lock(player_ids=[buyer_id, seller_id])
        wallet_debit(wallet=wallets[seller_id], amount_copper=body["seller_proceeds_copper"])
        wallet_credit(wallet=wallets[buyer_id], amount_copper=request["total_copper"])
        inventory_take(player_id=buyer_id, item_id=request["item_id"], quantity=request["quantity"])
    op.state = OperationState.REVERSED
    op.reversal = {"key": key, "status": "reversed", "undone": undone}
    op.save(update_fields=["state", "reversal", "updated_at"])
    return Answer(status=200, body=op.reversal)


@transaction.atomic
def escrow_move(*, key: str, player_id: int, item_id: int, quantity: int, direction: str) -> Answer:
    """Move items out of (``take``, a new listing) or back into (``return``,
    a cancelled listing's remainder) the player's inventory. ``take``
    refuses 403 ``player_banned`` and 409 ``insufficient_inventory`` as
    ``listing_create`` does; ``return`` always succeeds for a known player,
    as ``listing_cancel`` does."""
    request = {"player_id": player_id, "item_id": item_id, "quantity": quantity, "direction": direction}

    def effect() -> dict[str, Any]:
        player = _player(player_id=player_id)
        _item_require(item_id=item_id)
        if direction == ESCROW_TAKE:
            player_require_active(player=player, role="seller")
            inventory_take(player_id=player_id, item_id=item_id, quantity=quantity)
        else:
            inventory_grant(player_id=player_id, item_id=item_id, quantity=quantity)
        return {"key": key, **request, "status": "applied"}

    return _apply(key=key, kind=OperationKind.ESCROW, request=request, effect=effect)
