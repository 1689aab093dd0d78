"""HTTP API of the players context: registration (open) and public profile."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from legacy_monolith.players.models import Player
from legacy_monolith.players.selectors import player_get, player_inventory, player_name_taken
from legacy_monolith.players.services import player_register
from legacy_monolith.smp.api import MoneyField
from legacy_monolith.smp.openapi import error_responses

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_]{3,32}$")


class InventorySlotOutputSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    sku = serializers.CharField(source="item.sku")
    name = serializers.CharField(source="item.name")
    quantity = serializers.IntegerField()


class PlayerOutputSerializer(serializers.Serializer):
    """Public profile. The e-mail is private and only echoed at registration."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    status_label = serializers.CharField(source="get_status_display")
    created_at = serializers.DateTimeField()
    balance = MoneyField(source="wallet.balance_copper")


class PlayerDetailOutputSerializer(PlayerOutputSerializer):
    inventory = serializers.SerializerMethodField()

    @extend_schema_field(InventorySlotOutputSerializer(many=True))
    def get_inventory(self, player: Player) -> list[dict[str, object]]:
        return InventorySlotOutputSerializer(player_inventory(player_id=player.pk), many=True).data  # type: ignore[return-value]


class PlayerRegisterApi(APIView):
    """``POST /api/players/``: open registration; returns the API token."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "PlayerRegisterInput"

        name = serializers.CharField(max_length=32)
        # max_length: the column's (smp_plyr.eml, auth_user.email); a longer
        # address used to crash the insert with a 500.
        email = serializers.EmailField(required=False, allow_blank=True, default="", max_length=254)
        password = serializers.CharField(min_length=8, max_length=128, write_only=True)

        def validate_name(self, value: str) -> str:
            if not NAME_PATTERN.match(value):
                raise serializers.ValidationError("3 to 32 letters, digits or underscores.")
            if player_name_taken(name=value):
                raise serializers.ValidationError("This name is already taken.")
            return value

    class OutputSerializer(PlayerOutputSerializer):
        email = serializers.CharField()
        token = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, **error_responses(400, 415)},
        operation_id="players_register",
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        player, token = player_register(**serializer.validated_data)
        player.token = token  # type: ignore[attr-defined]
        return Response(self.OutputSerializer(player).data, status=status.HTTP_201_CREATED)


class PlayerRegisterInputSchema(OpenApiSerializerExtension):
    """What registration really accepts, which drf-spectacular cannot infer:
    DRF trims surrounding whitespace *before* the length checks and
    ``validate_name``, refuses NUL characters, and takes a JSON number for a
    string field as its decimal text (``str(value)``)."""

    target_class = PlayerRegisterApi.InputSerializer

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        properties = schema["properties"]
        properties["name"] = {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*[A-Za-z0-9_]{3,32}\s*$"},
                {"type": "integer", "minimum": 100, "maximum": 10**32 - 1},
            ],
            "description": "3 to 32 letters, digits or underscores; surrounding whitespace is trimmed; a JSON "
            "integer counts as its digits. Must not be taken yet (case-sensitive), else 400.",
        }
        properties["password"] = {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*[^\s\x00][^\x00]{6,126}[^\s\x00]\s*$"},
                {"type": "number"},
            ],
            "writeOnly": True,
            "description": "8 to 128 characters once surrounding whitespace is trimmed, no NUL character. A JSON "
            "number counts as its decimal text, which must meet the same rule.",
        }
        properties["email"]["description"] = "Optional; surrounding whitespace is trimmed, at most 254 characters."
        return schema


class PlayerDetailApi(APIView):
    """``GET /api/players/{id}/``: profile, wallet balance and inventory."""

    @extend_schema(
        responses={200: PlayerDetailOutputSerializer, **error_responses(401, 404)}, operation_id="players_retrieve"
    )
    def get(self, request: Request, player_id: int) -> Response:
        player = player_get(player_id=player_id)
        return Response(PlayerDetailOutputSerializer(player).data)
