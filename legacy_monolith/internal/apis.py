"""The monolith's ``/_internal/`` API for the strangler's parts
(docs/market-write-side.md): identity for the proxy, settlements and escrow
for the market service's sagas.

Not public: every view needs the service token (``internal/auth.py``), is
left out of the OpenAPI schema, and the proxy never forwards ``/_internal/``
from its public port. A replayed answer carries
``X-Strangler-Idempotent-Replay: true``.
"""

from __future__ import annotations

from typing import ClassVar

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from legacy_monolith.internal.auth import IsStranglerService, ServiceTokenAuthentication
from legacy_monolith.internal.selectors import identity_for_user
from legacy_monolith.internal.services import (
    ESCROW_RETURN,
    ESCROW_TAKE,
    Answer,
    escrow_move,
    settlement_apply,
    settlement_reverse,
)
from legacy_monolith.market.apis import MAX_PRICE_COPPER, MAX_QUANTITY

KEY_MAX_LENGTH = 200
REPLAY_HEADER = "X-Strangler-Idempotent-Replay"


def answer_response(answer: Answer) -> Response:
    response = Response(answer.body, status=answer.status)
    if answer.replayed:
        response[REPLAY_HEADER] = "true"
    return response


@extend_schema(exclude=True)
class InternalApi(APIView):
    """Base of every ``/_internal/`` view: service token only."""

    authentication_classes: ClassVar[list[type]] = [ServiceTokenAuthentication]
    permission_classes: ClassVar[list[type]] = [IsStranglerService]


class IdentityApi(InternalApi):
    """``GET /_internal/identity/`` with the user's ``Authorization: Token``."""

    def get(self, request: Request) -> Response:
        resolved = TokenAuthentication().authenticate(request)  # AuthenticationFailed (401) if invalid
        if resolved is None:
            raise NotAuthenticated("No Authorization: Token header to resolve.")
        identity = identity_for_user(user=resolved[0])
        return Response(
            {
                "user_id": identity.user_id,
                "username": identity.username,
                "player_id": identity.player_id,
                "player_status": identity.player_status,
            }
        )


class SettlementApi(InternalApi):
    """``POST /_internal/settlements/``: settle one sale, idempotent by key."""

    class InputSerializer(serializers.Serializer):
        key = serializers.CharField(max_length=KEY_MAX_LENGTH)
        buyer_id = serializers.IntegerField(min_value=1)
        seller_id = serializers.IntegerField(min_value=1)
        item_id = serializers.IntegerField(min_value=1)
        quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
        total_copper = serializers.IntegerField(min_value=1, max_value=MAX_PRICE_COPPER * MAX_QUANTITY)

    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return answer_response(settlement_apply(**serializer.validated_data))


class SettlementReverseApi(InternalApi):
    """``POST /_internal/settlements/<key>/reverse/``: undo, or tombstone."""

    def post(self, request: Request, key: str) -> Response:
        if len(key) > KEY_MAX_LENGTH:
            raise serializers.ValidationError({"key": [f"At most {KEY_MAX_LENGTH} characters."]})
        return answer_response(settlement_reverse(key=key))


class EscrowApi(InternalApi):
    """``POST /_internal/escrow/``: items into or out of escrow, idempotent by key."""

    class InputSerializer(serializers.Serializer):
        key = serializers.CharField(max_length=KEY_MAX_LENGTH)
        player_id = serializers.IntegerField(min_value=1)
        item_id = serializers.IntegerField(min_value=1)
        quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
        direction = serializers.ChoiceField(choices=[ESCROW_TAKE, ESCROW_RETURN])

    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return answer_response(escrow_move(**serializer.validated_data))
