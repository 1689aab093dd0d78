from django.apps import AppConfig


class PlayersConfig(AppConfig):
    name = "legacy_monolith.players"
    label = "players"
    default_auto_field = "django.db.models.BigAutoField"
