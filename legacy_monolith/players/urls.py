from django.urls import path

from legacy_monolith.players.apis import PlayerDetailApi, PlayerRegisterApi

app_name = "players"

urlpatterns = [
    path("players/", PlayerRegisterApi.as_view(), name="register"),
    path("players/<int:player_id>/", PlayerDetailApi.as_view(), name="detail"),
]
